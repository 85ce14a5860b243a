// Reading and writing another process's memory with the kernel's /proc/<pid>/mem
// semantics (fs/proc/base.c mem_rw), for one target bound at open.
//
// Contract (see SPEC-11..22 in shared/SPEC.md):
//  - Open() opens a task's procfs directory (of any procfs instance), then its
//    stat and mem relative to it; mem pins that process's mm (proc_mem_open -> mmgrab). Every later Read/Write is
//    bound to that mm: after the target exits or execs, they return 0.
//  - Read/Write return the bytes transferred (> 0), 0 when the mm is gone, or
//    -errno when nothing could be transferred (-EIO for an unmapped address).
//    A transfer that runs into an unmapped page is short, never an error.
//  - Safe to call from any thread, concurrently; never touches napi_env.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mutex>

namespace procfuse {

class MemReader {
 public:
  // On failure returns nullptr and sets *err to a positive errno (ESRCH when the
  // process is gone or a zombie, as the host kernel answers).
  static MemReader* Open(const char* task_dir, bool writable, int* err);
  ~MemReader();

  MemReader(const MemReader&) = delete;
  MemReader& operator=(const MemReader&) = delete;

  ssize_t Read(uint64_t addr, char* buf, size_t len);
  ssize_t Write(uint64_t addr, const char* buf, size_t len);

  // True while the task opened at Open() has not been reaped (a pread of its
  // stat fd succeeds).
  bool Alive() const;

  bool writable() const { return writable_; }

 private:
  MemReader(bool writable, int statfd, int memfd) : writable_(writable), statfd_(statfd), memfd_(memfd) {}

  // One mem_rw call: pread/pwrite on memfd_ (lseek+read/write under hi_mu_ for
  // addresses >= 2^63). Exactly one of rbuf/wbuf is non-null.
  ssize_t Transfer(uint64_t addr, char* rbuf, const char* wbuf, size_t len);

  bool writable_;
  int statfd_;  // <task dir>/stat: liveness, bound to the task the directory named
  int memfd_;  // <task dir>/mem, pins the mm of open time (proc_mem_open)
  std::mutex hi_mu_;  // serialises f_pos use for addresses >= 2^63
};

}  // namespace procfuse
