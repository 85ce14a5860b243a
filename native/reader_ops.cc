#include "reader_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "errno_error.h"
#include "reader_pool.h"

namespace procfuse {
namespace {

// What openAsReader gives back.
enum OpenKind {
  kHandle = 0,        // a ReaderFileHandle id; FUSE reads as the reader of each read
  kOpenerHandle = 3,  // a ReaderFileHandle id; the open decided everything, reads are plain
  kFd = 1,      // the fd itself, owned by JS from then on
  kProbe = 2,   // nothing: the open is the question (closed at once)
};

// A promise settled from a pool thread: the result travels through a
// thread-safe function to the JS thread, which settles it.
struct Settle {
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  int err = 0;
  double number = 0;
  std::string bytes;
  bool is_bytes = false;
  const char* syscall = "";

  explicit Settle(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {
    tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                         "procfuse-reader", 0, 1);
  }

  // Any thread, once.
  static void Finish(Settle* s) {
    Napi::ThreadSafeFunction tsfn = s->tsfn;
    napi_status st = tsfn.BlockingCall(s, [](Napi::Env env, Napi::Function, Settle* s) {
      if (s->err != 0) {
        std::string message = std::string(s->syscall) + ": " + strerror(s->err);
        Napi::Error e = Napi::Error::New(env, message);
        e.Set("code", Napi::String::New(env, ErrnoName(s->err)));
        e.Set("errno", Napi::Number::New(env, -s->err));
        e.Set("syscall", Napi::String::New(env, s->syscall));
        s->deferred.Reject(e.Value());
      } else if (s->is_bytes) {
        s->deferred.Resolve(Napi::Buffer<char>::Copy(env, s->bytes.data(), s->bytes.size()));
      } else {
        s->deferred.Resolve(Napi::Number::New(env, s->number));
      }
      delete s;
    });
    if (st != napi_ok) delete s;  // the environment is going away
    tsfn.Release();
  }
};

struct CallerArgs {
  pid_t tid;
  uid_t uid;
  gid_t gid;
};

CallerArgs CallerOf(const Napi::Value& v) {
  Napi::Object o = v.As<Napi::Object>();
  return {o.Get("pid").ToNumber().Int32Value(), o.Get("uid").ToNumber().Uint32Value(),
          o.Get("gid").ToNumber().Uint32Value()};
}

// openAsReader(path, caller {pid, uid, gid}, flags, kind) -> Promise<number>
// open(2) of a host file with the caller's credentials (reader_creds.h).
Napi::Value OpenAsReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  CallerArgs c = CallerOf(info[1]);
  int flags = info[2].ToNumber().Int32Value();
  int kind = info[3].ToNumber().Int32Value();
  auto* s = new Settle(env);
  Napi::Promise promise = s->deferred.Promise();
  auto fd = std::make_shared<int>(-1);
  ReaderJob job;
  job.tid = c.tid;
  job.uid = c.uid;
  job.gid = c.gid;
  // O_NOCTTY and O_CLOEXEC always; O_NONBLOCK where the reader asked for it.
  int oflags = (flags & (O_ACCMODE | O_NONBLOCK)) | O_NOCTTY | O_CLOEXEC;
  job.work = [path, oflags, fd]() {
    *fd = open(path.c_str(), oflags);
    return *fd < 0 ? (errno != 0 ? errno : EIO) : 0;
  };
  job.done = [s, fd, kind](int err) {
    s->syscall = "open";
    s->err = err;
    if (err == 0) {
      if (kind == kHandle || kind == kOpenerHandle) {
        s->number = static_cast<double>(
            HandleTable::Global().Add(std::make_shared<ReaderFileHandle>(*fd, kind == kOpenerHandle)));
      } else if (kind == kFd) {
        s->number = *fd;
      } else {
        close(*fd);
      }
    } else if (*fd >= 0) {
      close(*fd);
    }
    Settle::Finish(s);
  };
  ReaderPool::Global().Submit(std::move(job));
  return promise;
}

// readAsReader(path, caller, maxBytes) -> Promise<Buffer>
// open(2) and read(2) to the end (at most maxBytes), both as the caller.
Napi::Value ReadAsReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  CallerArgs c = CallerOf(info[1]);
  size_t max = static_cast<size_t>(info[2].ToNumber().Int64Value());
  auto* s = new Settle(env);
  Napi::Promise promise = s->deferred.Promise();
  ReaderJob job;
  job.tid = c.tid;
  job.uid = c.uid;
  job.gid = c.gid;
  job.work = [path, s, max]() {
    s->syscall = "open";
    int fd = open(path.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno != 0 ? errno : EIO;
    s->syscall = "read";
    char buf[65536];
    int err = 0;
    while (s->bytes.size() < max) {
      ssize_t n = read(fd, buf, std::min(sizeof(buf), max - s->bytes.size()));
      if (n < 0) {
        err = errno != 0 ? errno : EIO;
        break;
      }
      if (n == 0) break;
      s->bytes.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return err;
  };
  job.done = [s](int err) {
    if (s->syscall[0] == '\0') s->syscall = "open";
    s->err = err;
    s->is_bytes = true;
    Settle::Finish(s);
  };
  ReaderPool::Global().Submit(std::move(job));
  return promise;
}

// readlinkAsReader(path, caller) -> Promise<Buffer>
// readlink(2) with the caller's credentials (proc_fd_access_allowed and
// friends then run for them).
Napi::Value ReadlinkAsReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  CallerArgs c = CallerOf(info[1]);
  auto* s = new Settle(env);
  Napi::Promise promise = s->deferred.Promise();
  ReaderJob job;
  job.tid = c.tid;
  job.uid = c.uid;
  job.gid = c.gid;
  job.work = [path, s]() {
    char buf[PATH_MAX];
    ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
    if (n < 0) return errno != 0 ? errno : EIO;
    s->bytes.assign(buf, static_cast<size_t>(n));
    return 0;
  };
  job.done = [s](int err) {
    s->syscall = "readlink";
    s->err = err;
    s->is_bytes = true;
    Settle::Finish(s);
  };
  ReaderPool::Global().Submit(std::move(job));
  return promise;
}

}  // namespace

void ServeReaderRead(fuse_req_t req, std::shared_ptr<ReaderFileHandle> h, size_t size, off_t off) {
  if (h->opener_decides) {
    // Nothing of the reader matters any more: a procfs read of one page-sized
    // chunk, served here as a mem read is.
    std::vector<char> buf(size);
    ssize_t n = pread(h->fd, buf.data(), size, off);
    if (n < 0) {
      fuse_reply_err(req, errno != 0 ? errno : EIO);
    } else {
      fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
    }
    return;
  }
  const struct fuse_ctx* ctx = fuse_req_ctx(req);
  auto buf = std::make_shared<std::vector<char>>(size);
  auto got = std::make_shared<ssize_t>(0);
  ReaderJob job;
  job.tid = ctx->pid;
  job.uid = ctx->uid;
  job.gid = ctx->gid;
  job.work = [h, buf, got, off]() {
    ssize_t n = pread(h->fd, buf->data(), buf->size(), off);
    if (n < 0) return errno != 0 ? errno : EIO;
    *got = n;
    return 0;
  };
  job.done = [req, buf, got](int err) {
    if (err != 0) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_buf(req, buf->data(), static_cast<size_t>(*got));
    }
  };
  ReaderPool::Global().Submit(std::move(job));
}

void InitReaderOps(Napi::Env env, Napi::Object exports) {
  exports.Set("openAsReader", Napi::Function::New<OpenAsReader>(env, "openAsReader"));
  exports.Set("readAsReader", Napi::Function::New<ReadAsReader>(env, "readAsReader"));
  exports.Set("readlinkAsReader", Napi::Function::New<ReadlinkAsReader>(env, "readlinkAsReader"));
}

}  // namespace procfuse
