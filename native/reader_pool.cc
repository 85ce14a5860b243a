#include "reader_pool.h"

#include <errno.h>
#include <stdio.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "reader_creds.h"

namespace procfuse {
namespace {

// Enough for the root files' opens and reads of many callers at once; each
// job is one open or one pread of a procfs file.
constexpr int kThreads = 3;
// A caller that floods us gets EAGAIN rather than unbounded memory.
constexpr size_t kMaxQueued = 4096;

struct PoolState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<ReaderJob> jobs;
  const std::string proc_root = "/proc";  // where callers' status files are read
  int live = 0;
  bool started = false;
};

PoolState& State() {
  static PoolState* s = new PoolState();  // never destroyed: threads outlive statics
  return *s;
}

// Reads the caller's credentials and checks them against the request: the
// FUSE header carries the fsuid/fsgid the kernel saw; status must agree, or
// the task changed its credentials meanwhile (then we refuse: EACCES, as for
// a reader we cannot identify).
int CredsFor(const std::string& root, const ReaderJob& job, ReaderCreds* c) {
  for (int attempt = 0; attempt < 2; attempt++) {
    int err = ReadReaderCreds(root, job.tid, c);
    if (err == ENOENT || err == ESRCH) return EACCES;  // the caller is gone (or invisible)
    if (err != 0) return err;
    if (c->fsuid == job.uid && c->fsgid == job.gid) return 0;
  }
  return EACCES;
}

void Worker() {
  PoolState& s = State();
  ThreadCreds self;
  if (CaptureThreadCreds(&self) != 0) {
    fprintf(stderr, "procfuse: reader thread cannot read its own credentials; not started\n");
    std::lock_guard<std::mutex> lock(s.mu);
    s.live--;
    return;
  }
  for (;;) {
    ReaderJob job;
    std::string root;
    {
      std::unique_lock<std::mutex> lock(s.mu);
      s.cv.wait(lock, [&] { return !s.jobs.empty(); });
      job = std::move(s.jobs.front());
      s.jobs.pop_front();
      root = s.proc_root;
    }
    ReaderCreds c;
    int err = CredsFor(root, job, &c);
    if (err == 0) err = AssumeReaderCreds(self, c);
    if (err == 0) {
      err = job.work();
      int restore = RestoreThreadCreds(self);
      if (restore != 0) {
        // This thread is no longer exactly the daemon: it must never serve
        // anyone again. Its credentials end with it.
        fprintf(stderr, "procfuse: reader thread could not restore its credentials (errno %d); retiring it\n",
                restore);
        job.done(EIO);
        std::lock_guard<std::mutex> lock(s.mu);
        s.live--;
        return;
      }
    }
    job.done(err);
  }
}

}  // namespace

ReaderPool& ReaderPool::Global() {
  static ReaderPool* pool = new ReaderPool();
  return *pool;
}

void ReaderPool::Submit(ReaderJob job) {
  PoolState& s = State();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.started) {
      s.started = true;
      for (int i = 0; i < kThreads; i++) {
        s.live++;
        std::thread(Worker).detach();
      }
    }
    if (s.live > 0 && s.jobs.size() < kMaxQueued) {
      s.jobs.push_back(std::move(job));
      s.cv.notify_one();
      return;
    }
  }
  job.done(s.live > 0 ? EAGAIN : EIO);
}

}  // namespace procfuse
