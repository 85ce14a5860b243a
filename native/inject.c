// procfuse-inject: the mount half of `procfuse-runtime` (src/runtime/).
//
//   procfuse-inject --pid-file FILE [--reap] [--mask PATH]... [--readonly PATH]... -- RUNC CREATE ARGV...
//
// fd 3 (write), one line per step: "created <pid>", "armed", "injected",
//               "exit <status>" (--reap), or "failed <status>";
// fd 4 (read):  "source <dir>\n": the procfuse mount (a view of the container's
//               pid namespace) to put over the container's /proc.
//
// Why not between `runc create` and `runc start`: runc's init, once started,
// lists /proc/self/fd to close leaked fds (CVE-2024-21626) and refuses a
// /proc/self/fd that is not on procfs. Why not a hook: hooks run before those
// checks, too. So the view goes in at the one moment nothing of runc runs in the
// container any more and nothing of the container has run yet: the
// PTRACE_EVENT_EXEC stop of the container's init, after runc's execve() of the
// user's program has loaded it and before its first instruction.
//
// Steps: run `runc create` (our child; with --reap we are a subreaper, so the
// container's init becomes our child and we report its exit status); take a
// detached clone of the procfuse mount with open_tree(OPEN_TREE_CLONE) while we
// are still in the host's mount namespace; seize every thread of the container's
// init (PTRACE_O_EXITKILL: if we die first, the container dies, it never runs
// with the host's /proc view gone wrong); at its exec stop setns() into its
// mount namespace, move_mount() the clone onto /proc, re-apply the bundle's
// maskedPaths/readonlyPaths that lie under /proc, detach.
//
// A separate single-threaded program: setns(CLONE_NEWNS) fails with EINVAL in a
// process whose fs_struct is shared by threads (fs/namespace.c mntns_install),
// and the Node daemon must never enter a container.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// <sys/mount.h> and <linux/mount.h> clash on older glibc; the flags we need come
// from <linux/mount.h>, mount(2) itself is declared here.
extern int mount(const char* source, const char* target, const char* fstype, unsigned long flags, const void* data);

enum { REPORT_FD = 3, CONTROL_FD = 4, EXIT_FAILED = 125, MAX_PATHS = 64, MAX_THREADS = 4096 };

static void say(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  dprintf(2, "procfuse-runtime: inject: %s\n", buf);
}

static void report(const char* fmt, ...) {
  char buf[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  // The runtime may have gone (create mode exits once armed): EPIPE is fine.
  if (write(REPORT_FD, buf, (size_t)n) < 0) {
  }
}

static pid_t target;  // the container's init, once created

// Fails closed: a container whose /proc could not be replaced must not run.
static void fail(const char* what) {
  say("%s: %s", what, strerror(errno));
  if (target > 0) kill(target, SIGKILL);
  report("failed %d\n", EXIT_FAILED);
  _exit(EXIT_FAILED);
}

struct options {
  const char* pid_file;
  int reap;
  const char* masked[MAX_PATHS];
  int n_masked;
  const char* readonly[MAX_PATHS];
  int n_readonly;
  char** create;
};

static void usage(void) {
  dprintf(2, "usage: procfuse-inject --pid-file FILE [--reap] [--mask PATH]... [--readonly PATH]... -- RUNC CREATE ARGV...\n");
  _exit(2);
}

static void parse(int argc, char** argv, struct options* o) {
  memset(o, 0, sizeof(*o));
  int i = 1;
  for (; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--reap") == 0) {
      o->reap = 1;
    } else if (strcmp(a, "--pid-file") == 0 && i + 1 < argc) {
      o->pid_file = argv[++i];
    } else if (strcmp(a, "--mask") == 0 && i + 1 < argc && o->n_masked < MAX_PATHS) {
      o->masked[o->n_masked++] = argv[++i];
    } else if (strcmp(a, "--readonly") == 0 && i + 1 < argc && o->n_readonly < MAX_PATHS) {
      o->readonly[o->n_readonly++] = argv[++i];
    } else {
      usage();
    }
  }
  if (!o->pid_file || i >= argc) usage();
  o->create = &argv[i];
}

static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_FAILED;
}

// Runs `runc create`; returns its status code.
static int run_create(char** argv) {
  pid_t p = fork();
  if (p < 0) fail("fork");
  if (p == 0) {
    execvp(argv[0], argv);
    say("%s: %s", argv[0], strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(p, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid(runc create)");
  }
  return status_code(status);
}

static pid_t read_pid_file(const char* path) {
  FILE* f = fopen(path, "re");
  if (!f) fail(path);
  long v = 0;
  int ok = fscanf(f, "%ld", &v);
  fclose(f);
  if (ok != 1 || v <= 0) {
    errno = EINVAL;
    fail(path);
  }
  return (pid_t)v;
}

// "source <dir>\n" from the runtime; EOF means it gave up.
static void read_source(char* dir, size_t cap) {
  char line[4200];
  size_t n = 0;
  while (n + 1 < sizeof(line)) {
    ssize_t r = read(CONTROL_FD, line + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      errno = EPIPE;
      fail("the runtime gave up before the daemon was ready");
    }
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = '\0';
  if (strncmp(line, "source ", 7) != 0 || strlen(line + 7) >= cap) {
    errno = EINVAL;
    fail("control message");
  }
  strcpy(dir, line + 7);
}

// The traced threads of the target, by tid.
static pid_t traced[MAX_THREADS];
static int n_traced;

static int is_traced(pid_t tid) {
  for (int i = 0; i < n_traced; i++)
    if (traced[i] == tid) return 1;
  return 0;
}

static void forget(pid_t tid) {
  for (int i = 0; i < n_traced; i++)
    if (traced[i] == tid) {
      traced[i] = traced[--n_traced];
      return;
    }
}

// Seizes every thread of the target; repeats until a pass finds no new one, since
// threads can start while we go (PTRACE_O_TRACECLONE catches the ones after).
static void seize_all(pid_t pid) {
  const long opts = PTRACE_O_TRACEEXEC | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL;
  for (int found = 1; found;) {
    found = 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR* d = opendir(path);
    if (!d) fail(path);
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      pid_t tid = (pid_t)atoi(e->d_name);
      if (tid <= 0 || is_traced(tid)) continue;
      if (ptrace(PTRACE_SEIZE, tid, NULL, (void*)opts) != 0) {
        if (errno == ESRCH) continue;  // the thread exited meanwhile
        fail("ptrace(PTRACE_SEIZE)");
      }
      if (n_traced == MAX_THREADS) fail("too many threads");
      traced[n_traced++] = tid;
      found = 1;
    }
    closedir(d);
  }
}

// The per-mount flags of `path` that a read-only remount must keep (a
// MS_REMOUNT|MS_BIND sets them all at once, fs/namespace.c do_reconfigure_mnt).
static unsigned long kept_flags(const char* path) {
  struct statvfs sv;
  if (statvfs(path, &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  return f;
}

// What runc does for maskedPaths (libcontainer/rootfs_linux.go maskPath): a file
// gets /dev/null bound over it, a directory a read-only tmpfs; absent is fine.
static void mask(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return;
    fail(path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) != 0) fail(path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) != 0) {
    fail(path);
  }
}

// readonlyPaths (runc's readonlyPath): bind onto itself, then remount read-only.
static void make_readonly(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return;
    fail(path);
  }
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) fail(path);
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept_flags(path), NULL) != 0) fail(path);
}

static void inject(const struct options* o, int tree, int mntns) {
  if (setns(mntns, CLONE_NEWNS) != 0) fail("setns(container mount namespace)");
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, "/proc", MOVE_MOUNT_F_EMPTY_PATH) != 0) fail("move_mount(/proc)");
  close(tree);
  for (int i = 0; i < o->n_masked; i++) mask(o->masked[i]);
  for (int i = 0; i < o->n_readonly; i++) make_readonly(o->readonly[i]);
}

// Keeps the target running until its exec stop; returns with only the (new)
// thread group leader still traced, stopped.
static void wait_for_exec(void) {
  for (;;) {
    int status;
    pid_t tid = waitpid(-1, &status, __WALL);
    if (tid < 0) {
      if (errno == EINTR) continue;
      fail("waitpid");
    }
    if (!is_traced(tid)) {
      // An orphan that reparented to us (--reap), or a new thread announcing
      // itself before its clone event was seen.
      if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP) {
        if (n_traced < MAX_THREADS) traced[n_traced++] = tid;
        ptrace(PTRACE_CONT, tid, NULL, NULL);
      }
      continue;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      forget(tid);
      if (tid == target) {
        say("the container's init ended before it started its program (status %d)", status_code(status));
        report("failed %d\n", status_code(status));
        _exit(status_code(status));
      }
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int event = status >> 16;
    int sig = WSTOPSIG(status);
    if (event == PTRACE_EVENT_EXEC) {
      // de_thread() has ended every other thread; the exec'ing one now has the
      // leader's pid (ptrace(2), "execve(2) under ptrace").
      n_traced = 0;
      traced[n_traced++] = tid;
      return;
    }
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long child = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0 && !is_traced((pid_t)child) && n_traced < MAX_THREADS)
        traced[n_traced++] = (pid_t)child;
      ptrace(PTRACE_CONT, tid, NULL, NULL);
    } else if (event == PTRACE_EVENT_STOP) {
      // A group-stop (SIGSTOP and friends) stays a stop; a new thread's first
      // stop (SIGTRAP) just continues.
      if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) ptrace(PTRACE_LISTEN, tid, NULL, NULL);
      else ptrace(PTRACE_CONT, tid, NULL, NULL);
    } else {
      // A signal on its way to the thread: deliver it as if we were not there.
      ptrace(PTRACE_CONT, tid, NULL, (void*)(long)sig);
    }
  }
}

int main(int argc, char** argv) {
  struct options o;
  parse(argc, argv, &o);
  fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
  fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  if (o.reap && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("prctl(PR_SET_CHILD_SUBREAPER)");

  int created = run_create(o.create);
  if (created != 0) {
    report("failed %d\n", created);
    return created;
  }
  target = read_pid_file(o.pid_file);
  report("created %d\n", (int)target);

  char dir[4096];
  read_source(dir, sizeof(dir));
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("open_tree(OPEN_TREE_CLONE)");
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)target);
  int mntns = open(path, O_RDONLY | O_CLOEXEC);
  if (mntns < 0) fail(path);
  seize_all(target);
  report("armed\n");

  wait_for_exec();
  inject(&o, tree, mntns);
  close(mntns);
  if (ptrace(PTRACE_DETACH, target, NULL, NULL) != 0) fail("ptrace(PTRACE_DETACH)");
  report("injected\n");
  if (!o.reap) return 0;

  // The container's init is our child now (runc create exited, we are its
  // subreaper): its status is the container's.
  for (;;) {
    int status;
    pid_t p = waitpid(-1, &status, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      fail("waitpid(container)");
    }
    if (p == target && (WIFEXITED(status) || WIFSIGNALED(status))) {
      report("exit %d\n", status_code(status));
      return status_code(status);
    }
  }
}
