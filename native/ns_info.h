// User namespace ancestry of a process, as seen from the daemon's namespace,
// for the capability rules of __ptrace_may_access (security/commoncap.c cap_capable:
// a caller has a capability in a namespace if it holds it in that namespace, or
// owns it (or an ancestor of it below the caller's own) from the parent namespace).
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <vector>

namespace procfuse {

struct UserNsLevel {
  uint64_t ino;        // st_ino of the namespace (the number in "user:[N]")
  uint32_t owner_uid;  // NS_GET_OWNER_UID: the euid that created it, in the parent ns
};

// Fills *out with the namespace that ns_path (a /proc/<pid>/ns/{user,pid} link)
// names first, then its parent, up to the daemon's own namespace of that kind
// (inclusive) or as far as NS_GET_PARENT allows. owner_uid (NS_GET_OWNER_UID) is
// filled only with with_owner (user namespaces). Returns 0, or a positive errno
// (ESRCH/ENOENT if the process is gone).
int NsChain(const char* ns_path, bool with_owner, std::vector<UserNsLevel>* out);

}  // namespace procfuse
