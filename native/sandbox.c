// procfuse-sandbox: the namespace half of `procfuse run` (src/cli/run.ts).
//
//   procfuse-sandbox [--no-new-pidns] [--userns] [--user UID[:GID]] --mnt DIR -- CMD [ARGS...]
//
// fd 3 (write): "init <pid>\n", the host pid of the sandbox's init, once it exists;
// fd 4 (read):  "go\n" once the daemon serves DIR with that init's pid namespace
//               (EOF instead: give up with 125).
//
// Four processes, because each namespace step needs a different one:
//   outer: unshare(CLONE_NEWPID), fork the init, write its uid/gid maps from the
//          parent user namespace (--userns) or pass it the locked mount
//          namespace (default), pass signals on, exit with the init's status;
//   maker: forked by the outer before unshare(CLONE_NEWPID), so it takes no pid
//          in the sandbox: joins the init's mount namespace once /proc is bound
//          there and copies it into a new user namespace, then is killed;
//   init:  pid 1 of the new pid namespace (kernel/pid_namespace.c: its exit kills
//          the rest). Waits for "go", then in a new private mount namespace binds
//          DIR over /proc and detaches every other procfs and fusectl mount. Then
//          it moves into a copy of that mount namespace owned by a new user
//          namespace: a copy made for a less privileged user namespace than the
//          one it was copied from is made with CL_UNPRIVILEGED, and
//          lock_mnt_tree() marks every mount in it MNT_LOCKED, so can_umount()
//          refuses `umount /proc` with EINVAL (even to a real root) and nothing
//          under a mount can be revealed. By default the maker makes that copy
//          (unshare(CLONE_NEWUSER|CLONE_NEWNS)), the outer passes it over by
//          SCM_RIGHTS, and the init joins it with setns(fd, CLONE_NEWNS),
//          staying in the host's user namespace:
//          the command is then root as the kernel sees it (ptrace access to its
//          own children is decided as on the host, so debuggers work), but with
//          a bounding set without CAP_SYS_ADMIN (no mount, unshare or setns of
//          mount namespaces, no new procfs) and without the capabilities that
//          reach past the sandbox (modules, raw I/O, time, network admin...).
//          With --userns the init itself enters the new user namespace, where
//          the caller is root and every other id is unmapped. Then it forks the
//          command, reaps orphans and passes signals on;
//   the command: pid 2, with --user's ids.
//
// Single-threaded C on purpose: unshare(CLONE_NEWUSER) fails with EINVAL in a
// multi-threaded process (kernel/fork.c check_unshare_flags), so Node cannot do it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum { EXIT_SANDBOX_FAILED = 125, REPORT_FD = 3, CONTROL_FD = 4 };

static void say(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  dprintf(2, "procfuse: run: %s\n", buf);
}

static void die(const char* what) {
  say("%s: %s", what, strerror(errno));
  _exit(EXIT_SANDBOX_FAILED);
}

struct options {
  int new_pidns;
  int userns;   // map only the caller to root, as unshare --map-root-user does
  int set_ids;  // --user given
  uid_t uid;
  gid_t gid;
  const char* mnt;
  char** command;
};

static void usage(void) {
  dprintf(2, "usage: procfuse-sandbox [--no-new-pidns] [--userns] [--user UID[:GID]] --mnt DIR -- CMD [ARGS...]\n");
  _exit(2);
}

static int parse_id(const char* s, unsigned long* out) {
  char* end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v >= 4294967295UL) return -1;
  *out = v;
  return 0;
}

static void parse(int argc, char** argv, struct options* o) {
  memset(o, 0, sizeof(*o));
  o->new_pidns = 1;
  int i = 1;
  for (; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--no-new-pidns") == 0) {
      o->new_pidns = 0;
    } else if (strcmp(a, "--userns") == 0) {
      o->userns = 1;
    } else if (strcmp(a, "--mnt") == 0 && i + 1 < argc) {
      o->mnt = argv[++i];
    } else if (strcmp(a, "--user") == 0 && i + 1 < argc) {
      char* spec = argv[++i];
      char* colon = strchr(spec, ':');
      unsigned long uid, gid;
      if (colon) *colon = '\0';
      if (parse_id(spec, &uid) != 0 || (colon && parse_id(colon + 1, &gid) != 0)) usage();
      o->set_ids = 1;
      o->uid = (uid_t)uid;
      o->gid = colon ? (gid_t)gid : (gid_t)uid;
    } else {
      usage();
    }
  }
  if (!o->mnt || i >= argc) usage();
  o->command = &argv[i];
}

static void write_all(int fd, const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write");
    s += w;
    n -= (size_t)w;
  }
}

// One byte from fd, or -1 on EOF/error.
static int read_byte(int fd) {
  char c;
  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r == 1) return (unsigned char)c;
    if (r < 0 && errno == EINTR) continue;
    return -1;
  }
}

static void write_file(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  ssize_t w = write(fd, text, strlen(text));
  if (w != (ssize_t)strlen(text)) die(path);
  close(fd);
}

// Decodes mountinfo's octal escapes ("\040" is a space) in place.
static void unescape(char* s) {
  char* out = s;
  for (char* p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
      *out++ = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
      p += 3;
    } else {
      *out++ = *p;
    }
  }
  *out = '\0';
}

// Lazily detaches every procfs mount but /proc (and what is under it, which the
// bind covers), every other procfuse mount but `keep` (ours), and every fusectl
// mount: a real procfs or another procfuse mount elsewhere could show the
// host's processes, and fusectl's abort file (fs/fuse/control.c
// fuse_conn_abort_write checks no capability) would let the sandbox's root end
// other FUSE connections. None can be mounted again without CAP_SYS_ADMIN.
// Detaching the other procfuse mounts also keeps this namespace from holding
// them: a FUSE connection lives while any namespace has a copy of its mount,
// so another daemon could not end when its own mount is unmounted.
static void detach_revealing_mounts(const char* keep) {
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (!f) die("/proc/self/mountinfo");
  char* line = NULL;
  size_t cap = 0;
  // Collect first: detaching while reading would change the file under us.
  char* paths[256];
  int n = 0;
  while (getline(&line, &cap, f) > 0 && n < 256) {
    char* dash = strstr(line, " - ");
    if (!dash) continue;
    char fstype[64] = "";
    if (sscanf(dash + 3, "%63s", fstype) != 1) continue;
    int procfuse = strcmp(fstype, "fuse.procfuse") == 0;
    if (strcmp(fstype, "proc") != 0 && strcmp(fstype, "fusectl") != 0 && !procfuse) continue;
    char mp[4096];
    // fields: id parent major:minor root mountpoint ...
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) continue;
    unescape(mp);
    if (procfuse ? strcmp(mp, keep) == 0 : (strcmp(mp, "/proc") == 0 || strncmp(mp, "/proc/", 6) == 0)) continue;
    paths[n++] = strdup(mp);
  }
  free(line);
  fclose(f);
  for (int i = 0; i < n; i++) {
    if (umount2(paths[i], MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) die(paths[i]);
    free(paths[i]);
  }
  if (n == 256) detach_revealing_mounts(keep);  // there may be more
}

static sigset_t all_signals(void) {
  sigset_t s;
  sigfillset(&s);
  return s;
}

// Signals worth passing on: sent by a process (kill, sigqueue), not by the
// kernel. A terminal's ^C reaches every process of the foreground group,
// the command included, so passing that one on would deliver it twice.
static int forwardable(const siginfo_t* si) {
  if (si->si_signo == SIGCHLD) return 0;
  return si->si_code == SI_USER || si->si_code == SI_QUEUE || si->si_code == SI_TKILL;
}

static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_SANDBOX_FAILED;
}

// Waits for `child`, reaping every other child as it goes (orphans reparented to
// us), and passes signals sent to us on to `child`. Returns child's status code.
static int supervise(pid_t child) {
  sigset_t set = all_signals();
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      die("sigwaitinfo");
    }
    if (sig == SIGCHLD) {
      for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p <= 0) break;
        if (p == child) return status_code(status);
      }
    } else if (forwardable(&si)) {
      kill(child, sig);
    }
  }
}

// What the command keeps of root's capabilities (without --userns): Docker's
// default set, plus CAP_SYS_PTRACE for debuggers; the pid namespace keeps
// ptrace and kill to the sandbox's own processes.
static const int kept_caps[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP,
    CAP_SETFCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_MKNOD, CAP_SYS_PTRACE,
};

// Drops every other capability from the bounding set: execve() then gives
// root no more than these (security/commoncap.c cap_bprm_creds_from_file).
static void drop_bounding_set(void) {
  for (int cap = 0;; cap++) {
    int keep = 0;
    for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++) keep |= kept_caps[i] == cap;
    if (keep) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) return;  // past CAP_LAST_CAP
      die("prctl(PR_CAPBSET_DROP)");
    }
  }
}

// The command's process: takes its ids, waits at `gate` until the init holds
// no capability any more (EOF), then execs.
static void exec_command(const struct options* o, const sigset_t* old, int gate) {
  sigprocmask(SIG_SETMASK, old, NULL);
  prctl(PR_SET_PDEATHSIG, 0);

  if (o->set_ids) {
    if (setgroups(0, NULL) != 0) die("setgroups");
    if (setresgid(o->gid, o->gid, o->gid) != 0) die("setresgid (is the gid mapped?)");
    if (setresuid(o->uid, o->uid, o->uid) != 0) die("setresuid (is the uid mapped?)");
  }
  read_byte(gate);
  close(gate);
  execvp(o->command[0], o->command);
  int err = errno;
  say("%s: %s", o->command[0], strerror(err));
  // sh's convention, as `procfuse run` always had: 127 not found, 126 not executable
  _exit(err == ENOENT ? 127 : 126);
}

// Default mode, init's side: the outer process hands us a locked copy of our
// mount namespace (see make_locked_copy); we join it and stay in our user
// namespace. setns(CLONE_NEWNS) needs CAP_SYS_ADMIN over the copy's owner,
// which we have as root of its parent user namespace (fs/namespace.c
// mntns_install).
static void join_locked_copy(int to_outer, int from_outer) {
  write_all(to_outer, "b");
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
  ssize_t r;
  while ((r = recvmsg(from_outer, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  struct cmsghdr* c = r == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (!c || c->cmsg_type != SCM_RIGHTS) _exit(EXIT_SANDBOX_FAILED);  // the outer said why
  int ns;
  memcpy(&ns, CMSG_DATA(c), sizeof(ns));
  if (setns(ns, CLONE_NEWNS) != 0) die("setns(locked mount namespace)");
  close(ns);
}

// Default mode, outer's side. The maker: a child of ours forked before
// unshare(CLONE_NEWPID) (so it takes no pid in the sandbox, whose pids stay 1
// for the init and 2 for the command). Told the init's pid, it joins the init's
// mount namespace and copies it into a new user namespace (it needs no id maps
// for that: it holds every capability there). Returns its pid; `*order` is
// where to write the init's pid, `*ready` where it answers.
static pid_t start_maker(int* order, int* ready) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) die("pipe");
  pid_t maker = fork();
  if (maker < 0) die("fork");
  if (maker == 0) {
    close(in[1]);
    close(out[0]);
    close(REPORT_FD);
    close(CONTROL_FD);
    pid_t init = 0;
    ssize_t r;
    while ((r = read(in[0], &init, sizeof(init))) < 0 && errno == EINTR) {
    }
    if (r != (ssize_t)sizeof(init)) _exit(0);  // not needed (--userns, or a failure)
    int pidfd = (int)syscall(SYS_pidfd_open, init, 0);
    if (pidfd < 0) die("pidfd_open(init)");
    if (setns(pidfd, CLONE_NEWNS) != 0) die("setns(the init's mount namespace)");
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) die("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    write_all(out[1], "l");
    for (;;) pause();  // until SIGKILL: the init holds the namespace then
  }
  close(in[0]);
  close(out[1]);
  *order = in[1];
  *ready = out[0];
  return maker;
}

// Passes the maker's locked mount namespace to the init, then ends the maker.
static void pass_locked_copy(pid_t maker, pid_t init, int order, int ready, int to_init) {
  int ns = -1;
  if (write(order, &init, sizeof(init)) == (ssize_t)sizeof(init) && read_byte(ready) == 'l') {
    // Our /proc is the host's procfs: we never left the host's mount namespace.
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)maker);
    ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) say("%s: %s", path, strerror(errno));
  }
  close(order);
  close(ready);
  kill(maker, SIGKILL);
  while (waitpid(maker, NULL, 0) < 0 && errno == EINTR) {
  }
  if (ns < 0) return;  // the init sees no fd and gives up
  char byte = 'f';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &ns, sizeof(ns));
  if (sendmsg(to_init, &msg, MSG_NOSIGNAL) != 1) say("cannot pass the mount namespace: %s", strerror(errno));
  close(ns);
}

// Drops every capability of ours (the init's): the command has CAP_SYS_PTRACE
// and could drive us, so we must hold nothing it lacks. The bounding set (what
// the command gets at execve) stays as drop_bounding_set() left it.
static void drop_own_capabilities(void) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof(d));
  if (syscall(SYS_capset, &h, d) != 0) die("capset");
}

// The init: runs in the new pid namespace; `to_outer`/`from_outer` are the pipes
// of the user-namespace handshake.
static void run_init(const struct options* o, const sigset_t* old, int to_outer, int from_outer) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PR_SET_PDEATHSIG)");
  prctl(PR_SET_NAME, "procfuse-init");  // what ps shows as pid 1 inside
  if (!o->new_pidns && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(PR_SET_CHILD_SUBREAPER)");
  char go[3] = {0};
  for (int i = 0; i < 3; i++) {
    int c = read_byte(CONTROL_FD);
    if (c < 0) _exit(EXIT_SANDBOX_FAILED);  // run gave up (it says why)
    go[i] = (char)c;
  }
  if (memcmp(go, "go\n", 3) != 0) _exit(EXIT_SANDBOX_FAILED);
  close(CONTROL_FD);

  // A mount namespace of our own, copied now that DIR is mounted, and private so
  // that nothing we do propagates back to the host.
  if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make / private");
  char keep[PATH_MAX];
  if (!realpath(o->mnt, keep)) die(o->mnt);
  detach_revealing_mounts(keep);
  if (mount(o->mnt, "/proc", NULL, MS_BIND, NULL) != 0) {
    say("cannot bind %s over /proc: %s", o->mnt, strerror(errno));
    _exit(EXIT_SANDBOX_FAILED);
  }
  // The command sees procfuse at /proc only.
  umount2(o->mnt, MNT_DETACH);

  // Seal: a copy of this mount namespace, owned by a new user namespace, in
  // which every mount is locked (see the top of this file).
  if (o->userns) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) die("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    write_all(to_outer, "u");
    if (read_byte(from_outer) != 'm') _exit(EXIT_SANDBOX_FAILED);
    // Our ids were unmapped until now; take them again under the new maps,
    // which also gives us the full capability set of the new user namespace.
    if (setresgid(0, 0, 0) != 0) die("setresgid(0)");
    if (setresuid(0, 0, 0) != 0) die("setresuid(0)");
  } else {
    join_locked_copy(to_outer, from_outer);
    drop_bounding_set();
  }
  close(to_outer);
  close(from_outer);

  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) die("pipe");
  pid_t cmd = fork();
  if (cmd < 0) die("fork");
  if (cmd == 0) {
    close(gate[1]);
    exec_command(o, old, gate[0]);
  }
  close(gate[0]);
  if (!o->userns) drop_own_capabilities();
  close(gate[1]);
  _exit(supervise(cmd));
}

int main(int argc, char** argv) {
  struct options o;
  parse(argc, argv, &o);
  // The report and control pipes belong to us and the init, never to the command.
  fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
  fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC);

  // Die with `procfuse run`: a SIGKILLed run must leave nothing behind.
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PR_SET_PDEATHSIG)");
  if (getppid() != parent) _exit(EXIT_SANDBOX_FAILED);

  // Every signal is taken with sigwaitinfo(): blocked signals are never ignored,
  // not even by a pid namespace's init (kernel/signal.c sig_ignored()).
  sigset_t all = all_signals(), old;
  sigprocmask(SIG_BLOCK, &all, &old);

  int maker_order = -1, maker_ready = -1;
  pid_t maker = o.userns ? -1 : start_maker(&maker_order, &maker_ready);
  if (o.new_pidns && unshare(CLONE_NEWPID) != 0) die("unshare(CLONE_NEWPID)");
  // up: init -> outer ('u' after --userns' unshare, 'b' once /proc is bound);
  // down: outer -> init ('m' once the maps are written, or the locked mount
  // namespace as an SCM_RIGHTS fd).
  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) != 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, down) != 0) die("pipe");
  uid_t outer_uid = getuid();
  gid_t outer_gid = getgid();
  pid_t init = fork();
  if (init < 0) die("fork");
  if (init == 0) {
    close(REPORT_FD);
    close(up[0]);
    close(down[1]);
    if (maker > 0) {
      close(maker_order);
      close(maker_ready);
    }
    run_init(&o, &old, up[1], down[0]);
  }
  close(CONTROL_FD);
  close(up[1]);
  close(down[0]);
  char msg[64];
  snprintf(msg, sizeof(msg), "init %d\n", (int)init);
  write_all(REPORT_FD, msg);
  close(REPORT_FD);

  // --userns: the init's new user namespace maps the caller to root. Its maps
  // are written from here, the parent user namespace, where we hold
  // CAP_SETUID/CAP_SETGID (kernel/user_namespace.c new_idmap_permitted).
  int step = read_byte(up[0]);
  if (step == 'b' && maker > 0) {
    pass_locked_copy(maker, init, maker_order, maker_ready, down[1]);
  } else if (maker > 0) {
    close(maker_order);  // the maker sees EOF and exits; supervise() reaps it
    close(maker_ready);
  }
  if (step == 'u') {
    char path[64], map[64];
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)init);
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)outer_uid);
    write_file(path, map);
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)init);
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)outer_gid);
    write_file(path, map);
    write_all(down[1], "m");
  }
  close(up[0]);
  close(down[1]);
  return supervise(init);
}
