// A few dedicated threads that do host /proc work AS A READER: each job takes
// the credentials of the thread that made a FUSE request (reader_creds.h),
// runs, and gives them back before its completion runs. The threads do nothing
// else, so a reader's credentials never leak into other work of the daemon,
// and no blocking host read runs on the JavaScript thread or holds a FUSE
// worker.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace procfuse {

struct ReaderJob {
  // The FUSE request's caller: thread id in our pid namespace, fsuid, fsgid.
  pid_t tid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  // Runs on a pool thread wearing the reader's credentials; returns 0 or an errno.
  std::function<int()> work;
  // Runs on the same thread after the daemon's credentials are back, with
  // work()'s result, or the errno that kept work() from running.
  std::function<void(int err)> done;
};

class ReaderPool {
 public:
  static ReaderPool& Global();
  // Any thread. Never blocks on the job; a full queue fails it with EAGAIN.
  void Submit(ReaderJob job);
};

}  // namespace procfuse
