// Module init only: each export names the syscall or libfuse call behind it.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "errno_error.h"
#include "fuse_session.h"
#include "handle_table.h"
#include "mem_reader.h"
#include "ns_info.h"
#include "procfs_instance.h"
#include "write_as.h"
#include "reader_ops.h"

namespace procfuse {
namespace {

uint64_t HandleId(const Napi::Value& v) { return static_cast<uint64_t>(v.ToNumber().Int64Value()); }

uint64_t ToAddress(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = true;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return static_cast<uint64_t>(v.ToNumber().Int64Value());
}

// The fault plan JS compiled for one open (src/faults/compile.ts): JS has
// validated every field, so this only converts.
std::unique_ptr<FaultTable> ToFaultTable(const Napi::Object& plan) {
  auto counters = FaultCounters::Find(HandleId(plan.Get("counters")));
  Napi::Array list = plan.Get("entries").As<Napi::Array>();
  std::vector<FaultEntry> entries;
  entries.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Object o = list.Get(i).As<Napi::Object>();
    FaultEntry e;
    e.start = ToAddress(o.Get("start"));
    e.end = ToAddress(o.Get("end"));
    e.action = static_cast<FaultAction>(o.Get("action").ToNumber().Uint32Value());
    e.arg = static_cast<uint64_t>(o.Get("arg").ToNumber().Int64Value());
    e.nth = o.Get("nth").ToNumber().Uint32Value();
    e.after = o.Get("after").ToNumber().Uint32Value();
    e.probability = o.Get("probability").ToNumber().DoubleValue();
    e.seed = static_cast<uint64_t>(o.Get("seed").ToNumber().Int64Value());
    e.rule = o.Get("rule").ToNumber().Uint32Value();
    entries.push_back(e);
  }
  return std::make_unique<FaultTable>(std::move(entries), std::move(counters));
}

// memOpen(taskDir, writable, faults?): open(taskDir) + openat(stat) + openat(mem) -> handle id.
Napi::Value MemOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].ToString().Utf8Value();
  bool writable = info[1].ToBoolean().Value();
  int err = 0;
  MemReader* r = MemReader::Open(dir.c_str(), writable, &err);
  if (r == nullptr) {
    ThrowErrnoError(env, "memOpen", err);
    return env.Undefined();
  }
  if (info.Length() > 2 && info[2].IsObject()) r->SetFaults(ToFaultTable(info[2].As<Napi::Object>()));
  uint64_t id = HandleTable::Global().Add(std::make_shared<MemHandle>(r));
  return Napi::Number::New(env, static_cast<double>(id));
}

MemHandle* GetMem(const Napi::CallbackInfo& info, std::shared_ptr<Handle>* keep) {
  *keep = HandleTable::Global().Get(HandleId(info[0]));
  auto* m = dynamic_cast<MemHandle*>(keep->get());
  if (m == nullptr) ThrowErrnoError(info.Env(), "mem handle", EBADF);
  return m;
}

// memAlive(id): pread of the task's stat fd succeeds (not reaped)
Napi::Value MemAlive(const Napi::CallbackInfo& info) {
  std::shared_ptr<Handle> keep;
  MemHandle* m = GetMem(info, &keep);
  if (m == nullptr) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), m->reader->Alive());
}

// memRead(id, addr: bigint, len) -> Buffer (mem_rw semantics; throws EIO etc.)
Napi::Value MemRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Handle> keep;
  MemHandle* m = GetMem(info, &keep);
  if (m == nullptr) return env.Undefined();
  uint64_t addr = ToAddress(info[1]);
  size_t len = static_cast<size_t>(info[2].ToNumber().Int64Value());
  std::vector<char> buf(len);
  ssize_t n = m->reader->Read(addr, buf.data(), len);
  if (n < 0) {
    ThrowErrnoError(env, "memRead", static_cast<int>(-n));
    return env.Undefined();
  }
  return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(n));
}

// memWrite(id, addr: bigint, data: Buffer) -> bytes written
Napi::Value MemWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Handle> keep;
  MemHandle* m = GetMem(info, &keep);
  if (m == nullptr) return env.Undefined();
  uint64_t addr = ToAddress(info[1]);
  auto data = info[2].As<Napi::Buffer<char>>();
  ssize_t n = m->reader->Write(addr, data.Data(), data.Length());
  if (n < 0) {
    ThrowErrnoError(env, "memWrite", static_cast<int>(-n));
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// bufferHandle(data: Buffer | null, renderAtRead, forwardWrites, wholeLines) -> handle id
// whose reads slice `data` (for a render-at-read handle: the text for its first read from 0)
Napi::Value BufferHandleNew(const Napi::CallbackInfo& info) {
  bool at_read = info.Length() > 1 && info[1].ToBoolean().Value();
  bool writes = info.Length() > 2 && info[2].ToBoolean().Value();
  bool lines = info.Length() > 3 && info[3].ToBoolean().Value();
  auto h = std::make_shared<BufferHandle>(at_read, writes, lines);
  if (info[0].IsBuffer()) {
    auto data = info[0].As<Napi::Buffer<char>>();
    auto bytes = std::make_shared<const std::vector<char>>(data.Data(), data.Data() + data.Length());
    if (at_read) {
      h->SetInitial(std::move(bytes));
    } else {
      h->Set(std::move(bytes));
    }
  }
  uint64_t id = HandleTable::Global().Add(std::move(h));
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

// setHandleData(id, data: Buffer): the text a render-at-read handle now slices.
Napi::Value SetHandleData(const Napi::CallbackInfo& info) {
  std::shared_ptr<Handle> h = HandleTable::Global().Get(HandleId(info[0]));
  auto* b = dynamic_cast<BufferHandle*>(h.get());
  if (b == nullptr) {
    ThrowErrnoError(info.Env(), "setHandleData", EBADF);
    return info.Env().Undefined();
  }
  auto data = info[1].As<Napi::Buffer<char>>();
  b->Set(std::make_shared<const std::vector<char>>(data.Data(), data.Data() + data.Length()));
  return info.Env().Undefined();
}

// closeHandle(id): drops a handle that was never given to the kernel.
Napi::Value CloseHandle(const Napi::CallbackInfo& info) {
  HandleTable::Global().Remove(HandleId(info[0]));
  return info.Env().Undefined();
}

// nsChain(nsPath, withOwner) -> [{ ino: bigint, ownerUid }] via ioctl(NS_GET_PARENT/NS_GET_OWNER_UID)
Napi::Value NsChainJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].ToString().Utf8Value();
  bool with_owner = info[1].ToBoolean().Value();
  std::vector<UserNsLevel> chain;
  int err = NsChain(path.c_str(), with_owner, &chain);
  if (err != 0) {
    ThrowErrnoError(env, "nsChain", err);
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, chain.size());
  for (size_t i = 0; i < chain.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("ino", Napi::BigInt::New(env, chain[i].ino));
    o.Set("ownerUid", Napi::Number::New(env, chain[i].owner_uid));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// procfsInstance(pidnsPath | null) -> mount fd: fsopen("proc") + fsconfig(pidns) + fsmount
Napi::Value ProcfsInstanceJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  bool has = info.Length() > 0 && info[0].IsString();
  if (has) path = info[0].As<Napi::String>().Utf8Value();
  int fd = OpenProcfsInstance(has ? path.c_str() : nullptr);
  if (fd < 0) {
    ThrowErrnoError(env, "procfsInstance", -fd);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// writeAs({uid:[4], gid:[4], groups, capInh, capPrm, capEff: bigint, userNs: string|null}, path, data)
//   -> bytes written: fork, take those credentials and user namespace, open, write
Napi::Value WriteAsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  TaskCreds c;
  auto ids = [&](const char* key, uint32_t* out) {
    Napi::Array a = o.Get(key).As<Napi::Array>();
    for (uint32_t i = 0; i < 4; i++) out[i] = a.Get(i).ToNumber().Uint32Value();
  };
  ids("uid", c.uid);
  ids("gid", c.gid);
  Napi::Array g = o.Get("groups").As<Napi::Array>();
  for (uint32_t i = 0; i < g.Length(); i++) c.groups.push_back(g.Get(i).ToNumber().Uint32Value());
  bool lossless = true;
  c.cap_inh = o.Get("capInh").As<Napi::BigInt>().Uint64Value(&lossless);
  c.cap_prm = o.Get("capPrm").As<Napi::BigInt>().Uint64Value(&lossless);
  c.cap_eff = o.Get("capEff").As<Napi::BigInt>().Uint64Value(&lossless);
  Napi::Value ns = o.Get("userNs");
  if (ns.IsString()) c.user_ns = ns.As<Napi::String>().Utf8Value();
  std::string path = info[1].ToString().Utf8Value();
  auto data = info[2].As<Napi::Buffer<char>>();
  ssize_t n = WriteAs(c, path, data.Data(), data.Length());
  if (n < 0) {
    ThrowErrnoError(env, "writeAs", static_cast<int>(-n));
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// faultCounters(n) -> id of a block of n hit counters (one rules generation)
Napi::Value FaultCountersNew(const Napi::CallbackInfo& info) {
  size_t n = static_cast<size_t>(info[0].ToNumber().Uint32Value());
  uint64_t id = FaultCounters::Register(std::make_shared<FaultCounters>(n));
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

// faultHits(id) -> number[]: the counts so far (relaxed atomic loads)
Napi::Value FaultHits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = FaultCounters::Find(HandleId(info[0]));
  if (!c) {
    ThrowErrnoError(env, "faultHits", ENOENT);
    return env.Undefined();
  }
  std::vector<uint64_t> hits = c->Snapshot();
  Napi::Array out = Napi::Array::New(env, hits.size());
  for (size_t i = 0; i < hits.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(hits[i])));
  return out;
}

// faultCountersDrop(id): forget a generation (open handles keep counting into it)
Napi::Value FaultCountersDrop(const Napi::CallbackInfo& info) {
  FaultCounters::Unregister(HandleId(info[0]));
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("FuseSession", FuseSession::Init(env));
  exports.Set("memOpen", Napi::Function::New<MemOpen>(env, "memOpen"));
  exports.Set("memAlive", Napi::Function::New<MemAlive>(env, "memAlive"));
  exports.Set("memRead", Napi::Function::New<MemRead>(env, "memRead"));
  exports.Set("memWrite", Napi::Function::New<MemWrite>(env, "memWrite"));
  exports.Set("bufferHandle", Napi::Function::New<BufferHandleNew>(env, "bufferHandle"));
  exports.Set("setHandleData", Napi::Function::New<SetHandleData>(env, "setHandleData"));
  exports.Set("closeHandle", Napi::Function::New<CloseHandle>(env, "closeHandle"));
  exports.Set("nsChain", Napi::Function::New<NsChainJs>(env, "nsChain"));
  exports.Set("writeAs", Napi::Function::New<WriteAsJs>(env, "writeAs"));
  exports.Set("procfsInstance", Napi::Function::New<ProcfsInstanceJs>(env, "procfsInstance"));
  exports.Set("faultCounters", Napi::Function::New<FaultCountersNew>(env, "faultCounters"));
  exports.Set("faultHits", Napi::Function::New<FaultHits>(env, "faultHits"));
  exports.Set("faultCountersDrop", Napi::Function::New<FaultCountersDrop>(env, "faultCountersDrop"));
  InitReaderOps(env, exports);
  return exports;
}

}  // namespace procfuse

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return procfuse::Init(env, exports); }

NODE_API_MODULE(procfuse_native, InitModule)
