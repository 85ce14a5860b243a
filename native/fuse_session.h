// The libfuse3 low-level session, exposed to JavaScript as `FuseSession`.
//
// Threads:
//  - libfuse's multi-threaded loop runs on its own std::thread and worker threads.
//  - Each op that needs a decision (lookup, getattr, setattr, readlink, open,
//    opendir, readdir, and a read at offset 0 of a render-at-read handle) is
//    copied into a RequestData and queued to JS (js_queue.h), as are forget and
//    the release of a render-at-read handle. The worker never waits for JS. JS
//    answers later with one of the reply* methods, which run fuse_reply_* on the
//    JS thread: libfuse allows it, the request "is valid until one of the reply
//    functions is called".
//  - read/write/release/flush/lseek on native handles (handle_table.h), statfs,
//    releasedir and the ops procfs refuses are answered on the worker.
#pragma once

#include <fuse_lowlevel.h>
#include <napi.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "js_queue.h"

namespace procfuse {

struct RequestData;

class FuseSession : public Napi::ObjectWrap<FuseSession> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit FuseSession(const Napi::CallbackInfo& info);
  ~FuseSession() override;

  // Called on FUSE worker threads. Queues a request for JS; never blocks on JS.
  void Forward(fuse_req_t req, const char* op, fuse_ino_t ino, const char* name = nullptr,
               uint64_t fh = 0, int flags = 0, off_t off = 0, size_t size = 0, std::string* bytes = nullptr);
  void ForwardForget(fuse_ino_t ino, uint64_t nlookup);
  // A write on a forward_writes handle: the bytes travel as the request's name.
  void ForwardWrite(fuse_req_t req, fuse_ino_t ino, uint64_t fh, const char* buf, size_t size, off_t off);
  // Drops a handle (RELEASE, or an open whose caller left); a render-at-read
  // handle's release is forwarded to JS, which holds its renderer.
  void ReleaseHandle(uint64_t fh);

  uint32_t max_read() const { return max_read_; }

 private:
  struct Pending {
    fuse_req_t req;
  };

  // JS methods.
  Napi::Value Mount(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value ReplyErr(const Napi::CallbackInfo& info);
  Napi::Value ReplyEntry(const Napi::CallbackInfo& info);
  Napi::Value ReplyAttr(const Napi::CallbackInfo& info);
  Napi::Value ReplyOpen(const Napi::CallbackInfo& info);
  Napi::Value ReplyReadlink(const Napi::CallbackInfo& info);
  Napi::Value ReplyDir(const Napi::CallbackInfo& info);
  Napi::Value ReplyBuf(const Napi::CallbackInfo& info);
  Napi::Value ReplyWrite(const Napi::CallbackInfo& info);
  Napi::Value ConnectionId(const Napi::CallbackInfo& info);

  // Takes the request for `id` out of the pending table; throws in JS if unknown
  // (a second reply to one request is a bug).
  fuse_req_t Take(const Napi::CallbackInfo& info, uint64_t id);
  void StopLoop();

  std::string mountpoint_;
  bool allow_other_ = true;
  bool debug_ = false;
  int threads_ = 4;
  uint32_t max_read_ = 0;
  std::string fsname_ = "procfuse";

  struct fuse_session* se_ = nullptr;
  std::thread loop_;
  std::atomic<bool> loop_done_{false};
  int conn_id_ = -1;  // /sys/fs/fuse/connections/<id>
  bool mounted_ = false;

  // Requests and events for JS; see js_queue.h.
  bool Enqueue(RequestData* d);
  JsQueue<RequestData>* queue_ = nullptr;
  Napi::FunctionReference on_request_;
  unsigned spin_us_ = 200;
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
};

}  // namespace procfuse
