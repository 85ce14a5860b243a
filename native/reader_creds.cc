#include "reader_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

namespace procfuse {
namespace {

// Raw syscalls: per thread (see the header). They return -1 and set errno.
long RawSetresuid(uid_t r, uid_t e, uid_t s) { return syscall(SYS_setresuid, r, e, s); }
long RawSetresgid(gid_t r, gid_t e, gid_t s) { return syscall(SYS_setresgid, r, e, s); }
long RawSetgroups(const std::vector<gid_t>& g) { return syscall(SYS_setgroups, g.size(), g.empty() ? nullptr : g.data()); }
// setfsuid/setfsgid return the previous id and never fail visibly; calling them
// with -1 (an invalid id) changes nothing and returns the current one.
uid_t RawSetfsuid(uid_t u) { return static_cast<uid_t>(syscall(SYS_setfsuid, u)); }
gid_t RawSetfsgid(gid_t g) { return static_cast<gid_t>(syscall(SYS_setfsgid, g)); }

long RawCapset(const uint32_t eff[2], const uint32_t prm[2], const uint32_t inh[2]) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};  // pid 0: this thread
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = eff[i];
    data[i].permitted = prm[i];
    data[i].inheritable = inh[i];
  }
  return syscall(SYS_capset, &hdr, data);
}

int Errno() { return errno != 0 ? errno : EIO; }

bool ParseIds(const std::string& rest, unsigned long out[4]) {
  std::istringstream in(rest);
  for (int i = 0; i < 4; i++) {
    if (!(in >> out[i])) return false;
  }
  return true;
}

}  // namespace

bool ParseStatusCreds(const std::string& status, ReaderCreds* out) {
  std::istringstream in(status);
  std::string line;
  bool uid = false, gid = false, groups = false, cap = false;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), rest = line.substr(colon + 1);
    unsigned long ids[4];
    if (key == "Uid" && ParseIds(rest, ids)) {
      out->ruid = ids[0], out->euid = ids[1], out->suid = ids[2], out->fsuid = ids[3];
      uid = true;
    } else if (key == "Gid" && ParseIds(rest, ids)) {
      out->rgid = ids[0], out->egid = ids[1], out->sgid = ids[2], out->fsgid = ids[3];
      gid = true;
    } else if (key == "Groups") {
      std::istringstream g(rest);
      unsigned long v;
      out->groups.clear();
      while (g >> v) out->groups.push_back(static_cast<gid_t>(v));
      groups = true;
    } else if (key == "CapEff") {
      char* end = nullptr;
      out->cap_effective = strtoull(rest.c_str(), &end, 16);
      cap = end != rest.c_str();
    }
  }
  return uid && gid && groups && cap;
}

int ReadReaderCreds(const std::string& proc_root, pid_t tid, ReaderCreds* out) {
  if (tid <= 0) return EACCES;  // the caller is not visible in our pid namespace
  std::string dir = proc_root + "/" + std::to_string(tid);
  int fd = open((dir + "/status").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno();
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      int e = Errno();
      close(fd);
      return e;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (!ParseStatusCreds(text, out)) return EIO;
  // A reader in another user namespace: its capabilities are those of that
  // namespace and count for nothing against our init-namespace objects
  // (security/commoncap.c cap_capable walks only towards child namespaces).
  struct stat mine, theirs;
  if (stat((proc_root + "/thread-self/ns/user").c_str(), &mine) != 0) return Errno();
  if (stat((dir + "/ns/user").c_str(), &theirs) != 0) return Errno();
  out->foreign_userns = mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev;
  if (out->foreign_userns) out->cap_effective = 0;
  return 0;
}

int CaptureThreadCreds(ThreadCreds* out) {
  if (syscall(SYS_getresuid, &out->ruid, &out->euid, &out->suid) != 0) return Errno();
  if (syscall(SYS_getresgid, &out->rgid, &out->egid, &out->sgid) != 0) return Errno();
  long n = syscall(SYS_getgroups, 0, nullptr);
  if (n < 0) return Errno();
  out->groups.resize(static_cast<size_t>(n));
  if (n > 0 && syscall(SYS_getgroups, n, out->groups.data()) != n) return Errno();
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return Errno();
  for (int i = 0; i < 2; i++) {
    out->cap_eff[i] = data[i].effective;
    out->cap_prm[i] = data[i].permitted;
    out->cap_inh[i] = data[i].inheritable;
  }
  return 0;
}

// Order matters (security/commoncap.c cap_task_fix_setuid): an euid leaving 0
// clears the effective set, an fsuid leaving 0 clears its fs bits; so the ids
// go first, with the effective set raised again for the setfsuid step, and
// the reader's effective set is installed last. Real and saved uid stay the
// daemon's: kill_ok_by_cred compares them, so no reader can signal this thread
// (a SIGKILL to any thread ends the whole daemon) while it wears its ids.
int AssumeReaderCreds(const ThreadCreds& self, const ReaderCreds& r) {
  int err = 0;
  errno = 0;
  if (RawSetgroups(r.groups) != 0 || RawSetresgid(r.rgid, r.egid, r.sgid) != 0) {
    err = Errno();
  } else {
    RawSetfsgid(r.fsgid);
    if (RawSetfsgid(static_cast<gid_t>(-1)) != r.fsgid) err = EPERM;
  }
  if (err == 0 && RawSetresuid(self.ruid, r.euid, self.suid) != 0) err = Errno();
  if (err == 0 && RawCapset(self.cap_prm, self.cap_prm, self.cap_inh) != 0) err = Errno();
  if (err == 0) {
    RawSetfsuid(r.fsuid);
    if (RawSetfsuid(static_cast<uid_t>(-1)) != r.fsuid) err = EPERM;
  }
  if (err == 0) {
    uint32_t eff[2] = {static_cast<uint32_t>(r.cap_effective) & self.cap_prm[0],
                       static_cast<uint32_t>(r.cap_effective >> 32) & self.cap_prm[1]};
    if (RawCapset(eff, self.cap_prm, self.cap_inh) != 0) err = Errno();
  }
  if (err != 0) {
    int restore = RestoreThreadCreds(self);
    if (restore != 0) return restore;
  }
  return err;
}

int RestoreThreadCreds(const ThreadCreds& self) {
  errno = 0;
  // CAP_SETUID/CAP_SETGID back first: the reader's set may lack them.
  if (RawCapset(self.cap_prm, self.cap_prm, self.cap_inh) != 0) return Errno();
  if (RawSetresuid(self.ruid, self.euid, self.suid) != 0) return Errno();  // fsuid follows euid
  if (RawSetresgid(self.rgid, self.egid, self.sgid) != 0) return Errno();  // fsgid follows egid
  if (RawSetgroups(self.groups) != 0) return Errno();
  if (RawCapset(self.cap_eff, self.cap_prm, self.cap_inh) != 0) return Errno();
  // Verify rather than trust: a thread that is not exactly the daemon again
  // must never serve anybody.
  ThreadCreds now;
  if (CaptureThreadCreds(&now) != 0) return EIO;
  if (now.ruid != self.ruid || now.euid != self.euid || now.suid != self.suid || now.rgid != self.rgid ||
      now.egid != self.egid || now.sgid != self.sgid || now.groups != self.groups ||
      memcmp(now.cap_eff, self.cap_eff, sizeof(now.cap_eff)) != 0 ||
      memcmp(now.cap_prm, self.cap_prm, sizeof(now.cap_prm)) != 0 ||
      RawSetfsuid(static_cast<uid_t>(-1)) != self.euid || RawSetfsgid(static_cast<gid_t>(-1)) != self.egid) {
    return EPERM;
  }
  return 0;
}

}  // namespace procfuse
