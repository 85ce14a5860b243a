// Writing a procfs file with another task's credentials and user namespace, so
// that the kernel decides the write for that task, never for the daemon: the
// kernel checks uid_map/gid_map/setgroups writes against the opener's and the
// writer's credentials and namespace (kernel/user_namespace.c map_write,
// new_idmap_permitted, proc_setgroups_write).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace procfuse {

struct TaskCreds {
  uint32_t uid[4];  // real, effective, saved, fs (as /proc/<tid>/status prints them for us)
  uint32_t gid[4];
  std::vector<uint32_t> groups;
  uint64_t cap_inh, cap_prm, cap_eff;
  // /proc/<tid>/ns/user of the writer, or empty when it is the daemon's own.
  std::string user_ns;
};

// Forks a child that takes `creds` (ids, groups, capabilities; then the user
// namespace) and writes `data` to `path` at offset 0 with one write(2).
// Returns the byte count, or -errno (of the write, or of taking the credentials).
// Runs on the JS thread; bounded: the child makes a few syscalls and exits.
ssize_t WriteAs(const TaskCreds& creds, const std::string& path, const char* data, size_t len);

}  // namespace procfuse
