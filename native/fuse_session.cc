#include "fuse_session.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "errno_error.h"
#include "handle_table.h"
#include "reader_ops.h"

namespace procfuse {

// What a worker hands to the JS thread for one request.
struct RequestData {
  uint64_t id;
  const char* op;  // static string
  uint64_t ino;
  std::string name;
  bool has_name;
  uint64_t fh;
  int flags;
  int64_t off;
  uint64_t size;
  pid_t pid;
  uid_t uid;
  gid_t gid;
  mode_t umask;
};

namespace {

// A message to JS that expects no reply (forget, exit): id 0, no caller.
RequestData* NewEvent(const char* op, uint64_t ino, uint64_t size) {
  auto* d = new RequestData();
  d->id = 0;
  d->op = op;
  d->ino = ino;
  d->has_name = false;
  d->fh = 0;
  d->flags = 0;
  d->off = 0;
  d->size = size;
  d->pid = 0;
  d->uid = 0;
  d->gid = 0;
  d->umask = 0;
  return d;
}

FuseSession* SessionOf(fuse_req_t req) { return static_cast<FuseSession*>(fuse_req_userdata(req)); }

// ---- ops answered on the worker thread -------------------------------------
// All of these run on a FUSE worker thread and never touch napi_env.

void OpInit(void* userdata, struct fuse_conn_info* conn) {
  // libfuse checks that init() asks for the max_read given at mount.
  uint32_t max_read = static_cast<FuseSession*>(userdata)->max_read();
  if (max_read > 0) conn->max_read = max_read;
  // No readdirplus (we do not implement it), no cached symlink bodies: /proc/self
  // must be resolved per caller (SPEC-90).
  conn->want &= ~FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
  // Data of procfs files changes under us: never trust the page cache.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  SessionOf(req)->Forward(req, "lookup", parent, name);
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  SessionOf(req)->ForwardForget(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) {
  FuseSession* s = SessionOf(req);
  for (size_t i = 0; i < count; i++) s->ForwardForget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  SessionOf(req)->Forward(req, "getattr", ino, nullptr, fi ? fi->fh : 0);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* /*attr*/, int to_set,
               struct fuse_file_info* fi) {
  SessionOf(req)->Forward(req, "setattr", ino, nullptr, fi ? fi->fh : 0, to_set);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) { SessionOf(req)->Forward(req, "readlink", ino); }

void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  SessionOf(req)->Forward(req, "open", ino, nullptr, 0, fi->flags);
}

// Grows a per-thread buffer; reads on one worker are sequential.
char* ThreadBuffer(size_t size) {
  thread_local std::unique_ptr<char[]> buf;
  thread_local size_t cap = 0;
  if (cap < size) {
    buf.reset(new (std::nothrow) char[size]);
    cap = buf ? size : 0;
  }
  return buf.get();
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  std::shared_ptr<Handle> h = HandleTable::Global().Get(fi->fh);
  if (!h) {
    fuse_reply_err(req, EBADF);
    return;
  }
  if (auto* b = dynamic_cast<BufferHandle*>(h.get())) {
    BufferHandle::Bytes data = b->Snapshot();
    // seq_file semantics: the text is generated when it is read from the start,
    // except for the first such read of a handle that came with its text.
    if (b->render_at_read && (off == 0 || !data) && !(off == 0 && data && b->TakeFresh())) {
      SessionOf(req)->Forward(req, "read", ino, nullptr, fi->fh, 0, off, size);
      return;
    }
    if (!data || off < 0 || static_cast<uint64_t>(off) >= data->size()) {
      fuse_reply_buf(req, nullptr, 0);
      return;
    }
    size_t n = ReadLength(data->data() + off, data->size() - static_cast<size_t>(off), size, b->whole_lines);
    fuse_reply_buf(req, data->data() + off, n);
    return;
  }
  if (auto* m = dynamic_cast<MemHandle*>(h.get())) {
    if (size == 0) {
      fuse_reply_buf(req, nullptr, 0);
      return;
    }
    char* buf = ThreadBuffer(size);
    if (buf == nullptr) {
      fuse_reply_err(req, ENOMEM);
      return;
    }
    ssize_t n = m->reader->Read(static_cast<uint64_t>(off), buf, size);
    if (n < 0) {
      fuse_reply_err(req, static_cast<int>(-n));
    } else {
      fuse_reply_buf(req, buf, static_cast<size_t>(n));
    }
    return;
  }
  if (auto r = std::dynamic_pointer_cast<ReaderFileHandle>(h)) {
    ServeReaderRead(req, std::move(r), size, off);
    return;
  }
  fuse_reply_err(req, EBADF);
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             struct fuse_file_info* fi) {
  std::shared_ptr<Handle> h = HandleTable::Global().Get(fi->fh);
  if (auto* b = dynamic_cast<BufferHandle*>(h.get()); b != nullptr && b->forward_writes) {
    SessionOf(req)->ForwardWrite(req, ino, fi->fh, buf, size, off);
    return;
  }
  auto* m = dynamic_cast<MemHandle*>(h.get());
  if (m == nullptr) {
    // vfs_write on a procfs file without ->write (status, maps, ...) gives EINVAL.
    fuse_reply_err(req, h ? EINVAL : EBADF);
    return;
  }
  if (!m->reader->writable()) {
    fuse_reply_err(req, EBADF);
    return;
  }
  ssize_t n = m->reader->Write(static_cast<uint64_t>(off), buf, size);
  if (n < 0) {
    fuse_reply_err(req, static_cast<int>(-n));
  } else {
    fuse_reply_write(req, static_cast<size_t>(n));
  }
}

void OpFlush(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }

void OpRelease(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  SessionOf(req)->ReleaseHandle(fi->fh);
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, struct fuse_file_info*) { fuse_reply_err(req, 0); }

// Directories check access at opendir in some cases (fdinfo/: proc_fdinfo_permission).
void OpOpendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  SessionOf(req)->Forward(req, "opendir", ino, nullptr, 0, fi->flags);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  SessionOf(req)->Forward(req, "readdir", ino, nullptr, fi->fh, 0, off, size);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  // simple_statfs as procfs answers it: PAGE_SIZE blocks, NAME_MAX names, no counts.
  struct statvfs st;
  memset(&st, 0, sizeof(st));
  st.f_bsize = sysconf(_SC_PAGESIZE);
  st.f_frsize = st.f_bsize;
  st.f_namemax = NAME_MAX;
  fuse_reply_statfs(req, &st);
}

// procfs directories have no create/mkdir/... inode operations; the VFS answers
// EPERM for them (vfs_mkdir, vfs_unlink, ...), EACCES for O_CREAT (may_o_create).
void OpMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EPERM); }
void OpMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EPERM); }
void OpUnlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void OpRmdir(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void OpSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void OpRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int) {
  fuse_reply_err(req, EPERM);
}
void OpLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void OpCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, struct fuse_file_info*) {
  fuse_reply_err(req, EACCES);
}

// procfs has no extended attributes.
void OpSetxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, EOPNOTSUPP);
}
void OpGetxattr(fuse_req_t req, fuse_ino_t, const char*, size_t) { fuse_reply_err(req, EOPNOTSUPP); }
void OpListxattr(fuse_req_t req, fuse_ino_t, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, 0);
  } else {
    fuse_reply_buf(req, nullptr, 0);
  }
}
void OpRemovexattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EOPNOTSUPP); }

// SEEK_SET/SEEK_CUR/SEEK_END never reach us (fuse_file_llseek); SEEK_DATA and
// SEEK_HOLE do, and mem_lseek/seq_lseek answer them with EINVAL.
void OpLseek(fuse_req_t req, fuse_ino_t, off_t, int, struct fuse_file_info*) { fuse_reply_err(req, EINVAL); }

const struct fuse_lowlevel_ops kOps = [] {
  struct fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof(ops));
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsync;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.create = OpCreate;
  ops.lseek = OpLseek;
  return ops;
}();

// Decodes the octal escapes of /proc/self/mountinfo ("\040" for a space).
std::string UnescapeMountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (int k = 1; k <= 3; k++) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// /sys/fs/fuse/connections/<id>/abort is how a wedged connection is ended. Where
// nobody mounted the fusectl filesystem (systemd normally does), mount it; a
// failure only costs that fallback.
void EnsureFusectl() {
  const char* dir = "/sys/fs/fuse/connections";
  struct stat st, parent;
  if (stat(dir, &st) != 0 || stat("/sys/fs/fuse", &parent) != 0) return;
  if (st.st_dev != parent.st_dev) return;  // already a mount point
  mount("fusectl", dir, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

// The FUSE connection id of the mount at `path` (the minor of its st_dev), read
// from mountinfo rather than stat(): a stat of our own mount from this process
// would need the JS thread to answer it.
int FindConnectionId(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  int found = -1;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt;
    fields >> id >> parent >> devno >> root >> mnt;
    if (UnescapeMountinfo(mnt) != path) continue;
    size_t colon = devno.find(':');
    if (colon == std::string::npos) continue;
    if (line.find(" - fuse") == std::string::npos) continue;
    found = atoi(devno.c_str() + colon + 1);  // the last matching line is the top mount
  }
  return found;
}

void CallJs(Napi::Env env, Napi::Function callback, RequestData* data) {
  std::unique_ptr<RequestData> d(data);
  if (env == nullptr || callback.IsEmpty()) return;
  Napi::Object req = Napi::Object::New(env);
  req.Set("id", Napi::Number::New(env, static_cast<double>(d->id)));
  req.Set("op", Napi::String::New(env, d->op));
  req.Set("ino", Napi::Number::New(env, static_cast<double>(d->ino)));
  if (d->has_name) req.Set("name", Napi::Buffer<char>::Copy(env, d->name.data(), d->name.size()));
  req.Set("fh", Napi::Number::New(env, static_cast<double>(d->fh)));
  req.Set("flags", Napi::Number::New(env, d->flags));
  req.Set("off", Napi::Number::New(env, static_cast<double>(d->off)));
  req.Set("size", Napi::Number::New(env, static_cast<double>(d->size)));
  req.Set("pid", Napi::Number::New(env, d->pid));
  req.Set("uid", Napi::Number::New(env, d->uid));
  req.Set("gid", Napi::Number::New(env, d->gid));
  req.Set("umask", Napi::Number::New(env, d->umask));
  callback.Call({req});
  if (env.IsExceptionPending()) {
    // The dispatcher catches everything; anything else is fatal, as for any
    // callback: it reaches process.on('uncaughtException').
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

}  // namespace

// ---- FuseSession ---------------------------------------------------------------

Napi::Function FuseSession::Init(Napi::Env env) {
  return DefineClass(env, "FuseSession",
                     {
                         InstanceMethod<&FuseSession::Mount>("mount"),
                         InstanceMethod<&FuseSession::Close>("close"),
                         InstanceMethod<&FuseSession::ReplyErr>("replyErr"),
                         InstanceMethod<&FuseSession::ReplyEntry>("replyEntry"),
                         InstanceMethod<&FuseSession::ReplyAttr>("replyAttr"),
                         InstanceMethod<&FuseSession::ReplyOpen>("replyOpen"),
                         InstanceMethod<&FuseSession::ReplyReadlink>("replyReadlink"),
                         InstanceMethod<&FuseSession::ReplyDir>("replyDir"),
                         InstanceMethod<&FuseSession::ReplyBuf>("replyBuf"),
                         InstanceMethod<&FuseSession::ReplyWrite>("replyWrite"),
                         InstanceMethod<&FuseSession::ConnectionId>("connectionId"),
                     });
}

// new FuseSession(mountpoint, { allowOther, debug, threads, fsname }, onRequest)
FuseSession::FuseSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FuseSession>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "FuseSession(mountpoint, options, onRequest)").ThrowAsJavaScriptException();
    return;
  }
  mountpoint_ = info[0].As<Napi::String>().Utf8Value();
  Napi::Object opts = info[1].As<Napi::Object>();
  if (opts.Has("allowOther")) allow_other_ = opts.Get("allowOther").ToBoolean().Value();
  if (opts.Has("debug")) debug_ = opts.Get("debug").ToBoolean().Value();
  if (opts.Has("threads")) threads_ = std::max(1, opts.Get("threads").ToNumber().Int32Value());
  if (opts.Has("fsname")) fsname_ = opts.Get("fsname").ToString().Utf8Value();
  if (opts.Has("maxRead")) max_read_ = opts.Get("maxRead").ToNumber().Uint32Value();
  if (opts.Has("spinUs")) spin_us_ = opts.Get("spinUs").ToNumber().Uint32Value();
  on_request_ = Napi::Persistent(info[2].As<Napi::Function>());
  queue_ = JsQueue<RequestData>::Create(
      env, [this](Napi::Env e, RequestData* d) { CallJs(e, on_request_.Value(), d); },
      [](RequestData* d) { delete d; }, spin_us_);
}

FuseSession::~FuseSession() {
  StopLoop();
  if (queue_ != nullptr) queue_->Close();
}

bool FuseSession::Enqueue(RequestData* d) { return queue_ != nullptr && queue_->Push(d); }

void FuseSession::Forward(fuse_req_t req, const char* op, fuse_ino_t ino, const char* name, uint64_t fh,
                          int flags, off_t off, size_t size, std::string* bytes) {
  const struct fuse_ctx* ctx = fuse_req_ctx(req);
  auto* d = new RequestData();
  d->op = op;
  d->ino = ino;
  d->has_name = name != nullptr;
  if (name) d->name = name;
  if (bytes) d->name.swap(*bytes);
  d->fh = fh;
  d->flags = flags;
  d->off = off;
  d->size = size;
  d->pid = ctx->pid;
  d->uid = ctx->uid;
  d->gid = ctx->gid;
  d->umask = ctx->umask;
  {
    std::lock_guard<std::mutex> lock(mu_);
    d->id = next_id_++;
    pending_.emplace(d->id, Pending{req});
  }
  if (!Enqueue(d)) {
    // The JS side is shutting down: answer here so the caller is not left hanging.
    bool owned = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      owned = pending_.erase(d->id) > 0;
    }
    delete d;
    if (owned) fuse_reply_err(req, EIO);
  }
}

void FuseSession::ReleaseHandle(uint64_t fh) {
  std::shared_ptr<Handle> h = HandleTable::Global().Remove(fh);
  auto* b = dynamic_cast<BufferHandle*>(h.get());
  if (b == nullptr || !(b->render_at_read || b->forward_writes)) return;
  // JS keeps what renders a render-at-read handle (a closure, a host fd): let it go.
  RequestData* d = NewEvent("release", 0, 0);
  d->fh = fh;
  if (!Enqueue(d)) delete d;
}

void FuseSession::ForwardWrite(fuse_req_t req, fuse_ino_t ino, uint64_t fh, const char* buf, size_t size, off_t off) {
  // Forward copies the name up to a NUL; the bytes are binary, so set them after.
  std::string bytes(buf, size);
  Forward(req, "write", ino, "", fh, 0, off, size, &bytes);
}

void FuseSession::ForwardForget(fuse_ino_t ino, uint64_t nlookup) {
  RequestData* d = NewEvent("forget", ino, nlookup);
  if (!Enqueue(d)) delete d;
}

fuse_req_t FuseSession::Take(const Napi::CallbackInfo& info, uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    Napi::Error::New(info.Env(), "procfuse: no pending FUSE request " + std::to_string(id) +
                                     " (replied twice, or never forwarded)")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  fuse_req_t req = it->second.req;
  pending_.erase(it);
  return req;
}

namespace {

bool ToStat(const Napi::Object& a, struct stat* st) {
  memset(st, 0, sizeof(*st));
  st->st_ino = static_cast<ino_t>(a.Get("ino").ToNumber().Int64Value());
  st->st_mode = a.Get("mode").ToNumber().Uint32Value();
  st->st_nlink = a.Has("nlink") ? a.Get("nlink").ToNumber().Uint32Value() : 1;
  st->st_uid = a.Get("uid").ToNumber().Uint32Value();
  st->st_gid = a.Get("gid").ToNumber().Uint32Value();
  st->st_size = a.Has("size") ? a.Get("size").ToNumber().Int64Value() : 0;
  st->st_blksize = 1024;
  double t = a.Has("time") ? a.Get("time").ToNumber().DoubleValue() : 0;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(t);
  ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
  st->st_atim = ts;
  st->st_mtim = ts;
  st->st_ctim = ts;
  return true;
}

}  // namespace

// replyErr(id, errno)
Napi::Value FuseSession::ReplyErr(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  int err = info[1].ToNumber().Int32Value();
  fuse_req_t req = Take(info, id);
  if (req) fuse_reply_err(req, err);
  return info.Env().Undefined();
}

// replyEntry(id, { ino, generation, attr, entryTimeout, attrTimeout })
Napi::Value FuseSession::ReplyEntry(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  Napi::Object e = info[1].As<Napi::Object>();
  struct fuse_entry_param p;
  memset(&p, 0, sizeof(p));
  p.ino = static_cast<fuse_ino_t>(e.Get("ino").ToNumber().Int64Value());
  p.generation = e.Has("generation") ? e.Get("generation").ToNumber().Int64Value() : 0;
  p.entry_timeout = e.Has("entryTimeout") ? e.Get("entryTimeout").ToNumber().DoubleValue() : 0;
  p.attr_timeout = e.Has("attrTimeout") ? e.Get("attrTimeout").ToNumber().DoubleValue() : 0;
  ToStat(e.Get("attr").As<Napi::Object>(), &p.attr);
  fuse_req_t req = Take(info, id);
  if (req) fuse_reply_entry(req, &p);
  return info.Env().Undefined();
}

// replyAttr(id, attr, timeout)
Napi::Value FuseSession::ReplyAttr(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  struct stat st;
  ToStat(info[1].As<Napi::Object>(), &st);
  double timeout = info.Length() > 2 ? info[2].ToNumber().DoubleValue() : 0;
  fuse_req_t req = Take(info, id);
  if (req) fuse_reply_attr(req, &st, timeout);
  return info.Env().Undefined();
}

// replyOpen(id, fh, { directIo, keepCache, nonseekable })
Napi::Value FuseSession::ReplyOpen(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof(fi));
  fi.fh = static_cast<uint64_t>(info[1].ToNumber().Int64Value());
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    fi.direct_io = o.Get("directIo").ToBoolean().Value();
    fi.keep_cache = o.Get("keepCache").ToBoolean().Value();
    fi.nonseekable = o.Get("nonseekable").ToBoolean().Value();
  }
  fuse_req_t req = Take(info, id);
  if (req && fuse_reply_open(req, &fi) == -ENOENT) {
    // The caller went away before the open completed: the kernel will never send
    // RELEASE for this handle, so release it here.
    ReleaseHandle(fi.fh);
  }
  return info.Env().Undefined();
}

// replyReadlink(id, target: Buffer | string)
Napi::Value FuseSession::ReplyReadlink(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  std::string target;
  if (info[1].IsBuffer()) {
    auto b = info[1].As<Napi::Buffer<char>>();
    target.assign(b.Data(), b.Length());
  } else {
    target = info[1].ToString().Utf8Value();
  }
  fuse_req_t req = Take(info, id);
  if (req) fuse_reply_readlink(req, target.c_str());
  return info.Env().Undefined();
}

// replyDir(id, entries: [{ name, ino, mode, pos }], off, size)
// Entries are sorted by `pos` (the d_off cookie of the entry itself); those with
// pos >= off are emitted, each with next offset pos + 1, until `size` is full.
Napi::Value FuseSession::ReplyDir(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  Napi::Array entries = info[1].As<Napi::Array>();
  int64_t off = info[2].ToNumber().Int64Value();
  size_t size = static_cast<size_t>(info[3].ToNumber().Int64Value());
  fuse_req_t req = Take(info, id);
  if (!req) return info.Env().Undefined();
  std::vector<char> buf(size);
  size_t used = 0;
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Object e = entries.Get(i).As<Napi::Object>();
    int64_t pos = e.Get("pos").ToNumber().Int64Value();
    if (pos < off) continue;
    std::string name = e.Get("name").ToString().Utf8Value();
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = static_cast<ino_t>(e.Get("ino").ToNumber().Int64Value());
    st.st_mode = e.Get("mode").ToNumber().Uint32Value();
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, pos + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
  return info.Env().Undefined();
}

// replyBuf(id, data: Buffer)
Napi::Value FuseSession::ReplyBuf(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  auto b = info[1].As<Napi::Buffer<char>>();
  fuse_req_t req = Take(info, id);
  if (req) fuse_reply_buf(req, b.Data(), b.Length());
  return info.Env().Undefined();
}

// replyWrite(id, count)
Napi::Value FuseSession::ReplyWrite(const Napi::CallbackInfo& info) {
  uint64_t id = info[0].ToNumber().Int64Value();
  size_t n = static_cast<size_t>(info[1].ToNumber().Int64Value());
  fuse_req_t req = Take(info, id);
  if (req) fuse_reply_write(req, n);
  return info.Env().Undefined();
}

Napi::Value FuseSession::ConnectionId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), conn_id_);
}

// mount(): mounts and starts the worker loop; throws an errno error on failure.
Napi::Value FuseSession::Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (se_ != nullptr) {
    Napi::Error::New(env, "procfuse: session already mounted").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // default_permissions: the kernel applies DAC to our modes and owners exactly like
  // procfs's generic_permission (SPEC-3, SPEC-91); we add the ptrace checks at open.
  std::string opts = "default_permissions,fsname=" + fsname_ + ",subtype=procfuse";
  if (allow_other_) opts += ",allow_other";
  // Unset, libfuse 3.14 negotiates 1 MiB requests (max_pages 256); a smaller
  // max_read caps each FUSE_READ (and costs throughput).
  if (max_read_ > 0) opts += ",max_read=" + std::to_string(max_read_);
  std::vector<std::string> argv_s = {"procfuse", "-o", opts};
  if (debug_) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(const_cast<char*>(s.c_str()));
  struct fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  se_ = fuse_session_new(&args, &kOps, sizeof(kOps), this);
  fuse_opt_free_args(&args);
  if (se_ == nullptr) {
    Napi::Error::New(env, "procfuse: fuse_session_new failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  errno = 0;
  if (fuse_session_mount(se_, mountpoint_.c_str()) != 0) {
    int err = errno != 0 ? errno : EIO;
    fuse_session_destroy(se_);
    se_ = nullptr;
    ThrowErrnoError(env, "mount", err);
    return env.Undefined();
  }
  mounted_ = true;
  EnsureFusectl();
  char real[PATH_MAX];
  conn_id_ = FindConnectionId(realpath(mountpoint_.c_str(), real) ? real : mountpoint_);
  queue_->Ref();
  loop_done_ = false;
  struct fuse_session* se = se_;
  int threads = threads_;
  loop_ = std::thread([this, se, threads] {
    struct fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, threads);
    fuse_loop_cfg_set_idle_threads(cfg, threads);
    fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    loop_done_ = true;
    // Tell JS the connection is over (it may have been unmounted from outside).
    RequestData* d = NewEvent("exit", 0, 0);
    if (!Enqueue(d)) delete d;
  });
  return env.Undefined();
}

void FuseSession::StopLoop() {
  if (se_ == nullptr) return;
  fuse_session_exit(se_);
  // How long a reader that still holds a file open may keep the connection
  // before we abort it.
  auto grace = std::chrono::milliseconds(2000);
  if (mounted_) {
    // Lazy unmount: the mount disappears from the namespace at once; when no file
    // on it is open any more the kernel ends the connection and the workers wake.
    if (umount2(mountpoint_.c_str(), MNT_DETACH) != 0 && errno == EINVAL) {
      // Already unmounted from outside (procfuse unmount, umount -l): what keeps
      // the connection now is a file someone holds open; do not wait for it.
      grace = std::chrono::milliseconds(100);
    }
    mounted_ = false;
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (!loop_done_ && std::chrono::steady_clock::now() < deadline) {
    usleep(10 * 1000);
  }
  if (!loop_done_ && conn_id_ >= 0) {
    // Someone still holds a file open on the detached mount: abort the connection
    // so that nobody is left blocked on it and our workers return.
    std::string path = "/sys/fs/fuse/connections/" + std::to_string(conn_id_) + "/abort";
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t ignored = write(fd, "1", 1);
      (void)ignored;
      close(fd);
    }
  }
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!loop_done_ && std::chrono::steady_clock::now() < deadline) {
    usleep(10 * 1000);
  }
  if (!loop_done_) {
    // The connection could not be aborted (no fusectl) and a file on the
    // detached mount is still open: the workers stay blocked in read(). Never
    // hang the caller: leave them (and the session) to the process's exit.
    if (loop_.joinable()) loop_.detach();
    // The detached workers still use this object: never let it be collected.
    Ref();
    se_ = nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    pending_.clear();
    return;
  }
  if (loop_.joinable()) loop_.join();
  fuse_session_destroy(se_);
  se_ = nullptr;
  // Requests forwarded but never answered are dropped with the session.
  std::lock_guard<std::mutex> lock(mu_);
  pending_.clear();
}

// close(): unmounts, stops the workers and releases the JS callback.
Napi::Value FuseSession::Close(const Napi::CallbackInfo& info) {
  StopLoop();
  queue_->Unref();
  return info.Env().Undefined();
}

}  // namespace procfuse
