#include "write_as.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace procfuse {
namespace {

// capset(2) with the v3 header: two 32-bit words per set.
int CapSet(uint64_t inh, uint64_t prm, uint64_t eff) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {
      {static_cast<uint32_t>(eff), static_cast<uint32_t>(prm), static_cast<uint32_t>(inh)},
      {static_cast<uint32_t>(eff >> 32), static_cast<uint32_t>(prm >> 32), static_cast<uint32_t>(inh >> 32)},
  };
  return static_cast<int>(syscall(SYS_capset, &hdr, data));
}

// In the forked child only (one thread, its own mm): raw syscalls, no allocation.
[[noreturn]] void Child(const TaskCreds& c, const std::vector<gid_t>& groups, int nsfd, const char* path, const char* data,
                        size_t len, int report) {
  ssize_t result;
  auto fail = [&](int err) {
    result = -err;
    ssize_t ignored = write(report, &result, sizeof(result));
    (void)ignored;
    _exit(1);
  };
  if (syscall(SYS_setgroups, groups.size(), groups.data()) != 0) fail(errno);
  if (syscall(SYS_setresgid, c.gid[0], c.gid[1], c.gid[2]) != 0) fail(errno);
  // Keep the permitted set across the uid change, to take the namespace below.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(errno);
  if (syscall(SYS_setresuid, c.uid[0], c.uid[1], c.uid[2]) != 0) fail(errno);
  // effective = the permitted set kept across setresuid
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct now[2];
  if (syscall(SYS_capget, &hdr, now) != 0) fail(errno);
  uint64_t prm = now[0].permitted | (static_cast<uint64_t>(now[1].permitted) << 32);
  if (CapSet(0, prm, prm) != 0) fail(errno);
  syscall(SYS_setfsuid, c.uid[3]);
  syscall(SYS_setfsgid, c.gid[3]);
  // userns_install gives every capability in the namespace; the writer's own
  // set is taken right after.
  if (nsfd >= 0 && setns(nsfd, CLONE_NEWUSER) != 0) fail(errno);
  if (CapSet(c.cap_inh, c.cap_prm, c.cap_eff) != 0) fail(errno);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(errno);
  result = write(fd, data, len);
  if (result < 0) fail(errno);
  ssize_t ignored = write(report, &result, sizeof(result));
  (void)ignored;
  _exit(0);
}

}  // namespace

ssize_t WriteAs(const TaskCreds& creds, const std::string& path, const char* data, size_t len) {
  int nsfd = -1;
  if (!creds.user_ns.empty()) {
    nsfd = open(creds.user_ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return -(errno == ENOENT ? ESRCH : errno);
  }
  const std::vector<gid_t> groups(creds.groups.begin(), creds.groups.end());  // no allocation after fork
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    int err = errno;
    if (nsfd >= 0) close(nsfd);
    return -err;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    Child(creds, groups, nsfd, path.c_str(), data, len, pipefd[1]);
  }
  int fork_err = errno;
  close(pipefd[1]);
  if (nsfd >= 0) close(nsfd);
  if (pid < 0) {
    close(pipefd[0]);
    return -fork_err;
  }
  ssize_t result = -EIO;
  ssize_t got;
  do {
    got = read(pipefd[0], &result, sizeof(result));
  } while (got < 0 && errno == EINTR);
  if (got != sizeof(result)) result = -EIO;
  close(pipefd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return result;
}

}  // namespace procfuse
