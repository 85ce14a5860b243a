// A private kernel procfs instance for one pid namespace, never attached to any
// mount tree: fsopen("proc") + fsconfig + fsmount (fs/proc/root.c proc_parse_param
// accepts "pidns" as an fd of a /proc/<pid>/ns/pid link since v6.15). The kernel
// itself then lists that namespace's tasks under their numbers there and renders
// NSpid, PPid, Tgid, stat's pid fields... for it.
#pragma once

namespace procfuse {

// Returns the mount fd (O_CLOEXEC) of a new procfs instance for the pid
// namespace that pidns_path names (nullptr: the caller's own), or -errno.
// Path lookups below "/proc/self/fd/<fd>" reach the instance's root.
int OpenProcfsInstance(const char* pidns_path);

}  // namespace procfuse
