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

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace procfuse {

// ---- fault injection (procfuse mount --faults; src/faults/) ----------------
// JS compiles the rules that select one (caller, target) pair at open into
// FaultEntry ranges (mapping names already resolved against the target's maps),
// and the reader applies them on the FUSE thread, so no read goes to JS.

enum class FaultAction : uint8_t {
  kEio = 1,    // the range reads as unmapped: EIO inside, short read up to it
  kShort = 2,  // at most `arg` bytes (0: up to the next page boundary)
  kZeros = 3,  // the bytes of the range read as zero
  kEof = 4,    // 0 bytes, and every later read on this handle too (exit, exec)
  kDelay = 5,  // sleep `arg` ms, then go on with the next rule
};

struct FaultEntry {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
  FaultAction action = FaultAction::kEio;
  uint64_t arg = 0;
  uint32_t nth = 0;    // fire only on the nth read this entry's rule sees (1-based); 0: any
  uint32_t after = 0;  // fire only after the rule has seen this many reads
  double probability = 1.0;
  uint64_t seed = 0;
  uint32_t rule = 0;  // index into FaultCounters::hits; also the precedence (lower wins)
};

// Hit counts of one generation of the rules file, shared by every handle opened
// under it. Readable from JS (faultHits) while reads go on.
class FaultCounters {
 public:
  explicit FaultCounters(size_t n) : hits_(n) {}
  void Hit(uint32_t rule) {
    if (rule < hits_.size()) hits_[rule].fetch_add(1, std::memory_order_relaxed);
  }
  std::vector<uint64_t> Snapshot() const;
  size_t size() const { return hits_.size(); }

  // A process-wide registry so that JS names a generation by a number.
  static uint64_t Register(std::shared_ptr<FaultCounters> c);
  static std::shared_ptr<FaultCounters> Find(uint64_t id);
  static void Unregister(uint64_t id);

 private:
  std::vector<std::atomic<uint64_t>> hits_;
};

// The compiled rules of one open mem handle: sorted by start address, with the
// per-handle state that "nth read", "probability" and a sticky EOF need.
class FaultTable {
 public:
  FaultTable(std::vector<FaultEntry> entries, std::shared_ptr<FaultCounters> counters);

  struct Decision {
    const FaultEntry* entry = nullptr;  // nullptr: serve the read normally
    uint64_t delay_ms = 0;
  };
  // Which rule (if any) takes a read of [addr, addr+len); updates the counts.
  Decision Decide(uint64_t addr, size_t len);

 private:
  struct State {
    uint32_t seen = 0;
    uint64_t rng = 0;
  };
  std::vector<FaultEntry> entries_;  // sorted by start
  std::vector<State> state_;         // indexed by FaultEntry::rule: counts are per rule
  std::shared_ptr<FaultCounters> counters_;
  std::mutex mu_;
  const FaultEntry* eof_ = nullptr;  // set once an EOF rule fired
};

class MemReader {
 public:
  // On failure returns nullptr and sets *err to a positive errno (ESRCH when the
  // process is gone or a zombie, as the host kernel answers).
  static MemReader* Open(const char* task_dir, bool writable, int* err);
  // Takes the compiled fault rules for this handle (none: reads as the kernel's).
  void SetFaults(std::unique_ptr<FaultTable> faults) { faults_ = std::move(faults); }
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
  ssize_t ReadWithFault(uint64_t addr, char* buf, size_t len);

  // --replay: <task dir>/mem is not procfs but a snapshot's index (docs/snapshots.md):
  // reads copy recorded bytes, as mem_rw would copy mapped pages.
  struct ReplayRegion {
    uint64_t start, end, offset;  // [start, end) is at `offset` in the data file
  };
  // Reads the index from memfd_; opens the data file relative to task_dir_fd.
  int LoadReplay(int task_dir_fd);
  ssize_t ReplayRead(uint64_t addr, char* buf, size_t len);
  std::vector<ReplayRegion> replay_;  // sorted by start, disjoint
  int datafd_ = -1;                   // >= 0: this handle replays a snapshot

  bool writable_;
  int statfd_;  // <task dir>/stat: liveness, bound to the task the directory named
  int memfd_;  // <task dir>/mem, pins the mm of open time (proc_mem_open)
  std::mutex hi_mu_;  // serialises f_pos use for addresses >= 2^63
  std::unique_ptr<FaultTable> faults_;  // set before the handle is shared, then immutable
};

}  // namespace procfuse
