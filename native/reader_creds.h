// Taking a FUSE reader's credentials on one thread, so that the host kernel
// itself decides what that reader may open and what it reads.
//
// Linux credentials belong to a task, i.e. a thread (kernel/cred.c
// commit_creds acts on current). The raw syscalls below therefore change only
// the calling thread; glibc's setgroups/setresuid wrappers would broadcast the
// change to every thread of the daemon (nptl's setxid signal), so they are
// never used here.
//
// What is taken: real/effective/saved/fs uid and gid, supplementary groups,
// effective capabilities. What is not: the reader's user namespace (setns into
// a user namespace is refused to a multi-threaded process), its LSM label, its
// network namespace. See docs/reader-credentials.md.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace procfuse {

struct ReaderCreds {
  uid_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::vector<gid_t> groups;
  // CapEff as the kernel shows it; cleared when the reader lives in another
  // user namespace (its capabilities there give nothing in ours: cap_capable).
  uint64_t cap_effective = 0;
  bool foreign_userns = false;
};

// Parses /proc/<tid>/status (Uid:, Gid:, Groups:, CapEff:) into *out.
// Returns 0 or a positive errno (ESRCH/ENOENT when the task is gone).
int ReadReaderCreds(const std::string& proc_root, pid_t tid, ReaderCreds* out);

// Parses the text of a status file; exposed for tests.
bool ParseStatusCreds(const std::string& status, ReaderCreds* out);

// The calling thread's own credentials, captured once so they can be restored.
struct ThreadCreds {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  std::vector<gid_t> groups;
  uint32_t cap_eff[2], cap_prm[2], cap_inh[2];
};

// Captures the calling thread's credentials. Returns 0 or errno.
int CaptureThreadCreds(ThreadCreds* out);

// Switches the calling thread to `r` (keeping `self`'s permitted set, so that
// RestoreThreadCreds can return). Returns 0 or errno; on failure the thread
// has been restored (or RestoreThreadCreds failed too: see below).
int AssumeReaderCreds(const ThreadCreds& self, const ReaderCreds& r);

// Returns the calling thread to `self`. Returns 0, or errno if any step failed:
// the thread must then never do work for anyone again.
int RestoreThreadCreds(const ThreadCreds& self);

}  // namespace procfuse
