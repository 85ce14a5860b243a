// Runs on the JS thread, once per pid namespace a mount serves (bounded: a few syscalls).
#include "procfs_instance.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace procfuse {

int OpenProcfsInstance(const char* pidns_path) {
  int fs = static_cast<int>(syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC));
  if (fs < 0) return -errno;
  int err = 0;
  if (pidns_path != nullptr) {
    int ns = open(pidns_path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
      err = errno;
    } else {
      if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "pidns", nullptr, ns) != 0) err = errno;
      close(ns);
    }
  }
  if (err == 0 && syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) err = errno;
  int mnt = -1;
  if (err == 0) {
    mnt = static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0));
    if (mnt < 0) err = errno;
  }
  close(fs);
  return err != 0 ? -err : mnt;
}

}  // namespace procfuse
