// procfuse-sandbox: the namespace half of `procfuse run` (src/cli/run.ts).
//
//   procfuse-sandbox [--no-new-pidns] [--userns] [--user UID[:GID]] --mnt DIR -- CMD [ARGS...]
//
// fd 3 (write): "init <pid>\n", the host pid of the sandbox's init, once it exists;
// fd 4 (read):  "go\n" once the daemon serves DIR with that init's pid namespace
//               (EOF instead: give up with 125).
//
// Three processes, because each namespace step needs a different one:
//   outer: unshare(CLONE_NEWPID), fork the init, write its uid/gid maps from the
//          parent user namespace, pass signals on, exit with the init's status;
//   init:  pid 1 of the new pid namespace (kernel/pid_namespace.c: its exit kills
//          the rest). Waits for "go", then in a new private mount namespace binds
//          DIR over /proc, detaches every other procfs and fusectl mount, and
//          enters a new user namespace together with a new mount namespace. That
//          mount namespace is owned by a less privileged user namespace than the
//          one it was copied from, so copy_mnt_ns() copies with CL_UNPRIVILEGED
//          and lock_mnt_tree() marks every mount MNT_LOCKED: do_umount() then
//          refuses `umount /proc` with EINVAL, and nothing under it can be
//          revealed. Then it forks the command, reaps orphans and passes signals on;
//   the command: pid 2, with --user's ids.
//
// Single-threaded C on purpose: unshare(CLONE_NEWUSER) fails with EINVAL in a
// multi-threaded process (kernel/fork.c check_unshare_flags), so Node cannot do it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
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
// bind covers), and every fusectl mount: a real procfs elsewhere would show the
// host's processes, and fusectl's abort file (fs/fuse/control.c
// fuse_conn_abort_write checks no capability) would let the sandbox's root end
// other FUSE connections. Neither can be mounted again from the sandbox's user
// namespace (neither is FS_USERNS_MOUNT).
static void detach_revealing_mounts(void) {
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
    if (strcmp(fstype, "proc") != 0 && strcmp(fstype, "fusectl") != 0) continue;
    char mp[4096];
    // fields: id parent major:minor root mountpoint ...
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) continue;
    unescape(mp);
    if (strcmp(mp, "/proc") == 0 || strncmp(mp, "/proc/", 6) == 0) continue;
    paths[n++] = strdup(mp);
  }
  free(line);
  fclose(f);
  for (int i = 0; i < n; i++) {
    if (umount2(paths[i], MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) die(paths[i]);
    free(paths[i]);
  }
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

static void exec_command(const struct options* o, const sigset_t* old) {
  sigprocmask(SIG_SETMASK, old, NULL);
  prctl(PR_SET_PDEATHSIG, 0);
  if (o->set_ids) {
    if (setgroups(0, NULL) != 0) die("setgroups");
    if (setresgid(o->gid, o->gid, o->gid) != 0) die("setresgid (is the gid mapped?)");
    if (setresuid(o->uid, o->uid, o->uid) != 0) die("setresuid (is the uid mapped?)");
  }
  execvp(o->command[0], o->command);
  int err = errno;
  say("%s: %s", o->command[0], strerror(err));
  // sh's convention, as `procfuse run` always had: 127 not found, 126 not executable
  _exit(err == ENOENT ? 127 : 126);
}

// The init: runs in the new pid namespace; `to_outer`/`from_outer` are the pipes
// of the user-namespace handshake.
static void run_init(const struct options* o, const sigset_t* old, int to_outer, int from_outer) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PR_SET_PDEATHSIG)");
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
  detach_revealing_mounts();
  if (mount(o->mnt, "/proc", NULL, MS_BIND, NULL) != 0) {
    say("cannot bind %s over /proc: %s", o->mnt, strerror(errno));
    _exit(EXIT_SANDBOX_FAILED);
  }
  // The command sees procfuse at /proc only.
  umount2(o->mnt, MNT_DETACH);

  // Seal: a user namespace and, owned by it, a copy of this mount namespace in
  // which every mount is locked (see the top of this file).
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) die("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
  write_all(to_outer, "u");
  if (read_byte(from_outer) != 'm') _exit(EXIT_SANDBOX_FAILED);
  close(to_outer);
  close(from_outer);
  // Our ids were unmapped until now; take them again under the new maps, which
  // also gives us the full capability set of the new user namespace.
  if (setresgid(0, 0, 0) != 0) die("setresgid(0)");
  if (setresuid(0, 0, 0) != 0) die("setresuid(0)");

  pid_t cmd = fork();
  if (cmd < 0) die("fork");
  if (cmd == 0) exec_command(o, old);
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

  if (o.new_pidns && unshare(CLONE_NEWPID) != 0) die("unshare(CLONE_NEWPID)");
  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0) die("pipe");
  uid_t outer_uid = getuid();
  gid_t outer_gid = getgid();
  pid_t init = fork();
  if (init < 0) die("fork");
  if (init == 0) {
    close(REPORT_FD);
    close(up[0]);
    close(down[1]);
    run_init(&o, &old, up[1], down[0]);
  }
  close(CONTROL_FD);
  close(up[1]);
  close(down[0]);
  char msg[64];
  snprintf(msg, sizeof(msg), "init %d\n", (int)init);
  write_all(REPORT_FD, msg);
  close(REPORT_FD);

  // The init's new user namespace: its maps are written from here, the parent
  // user namespace, where we hold CAP_SETUID/CAP_SETGID (kernel/user_namespace.c
  // new_idmap_permitted); the identity map keeps every file's owner as it is.
  if (read_byte(up[0]) == 'u') {
    char path[64], map[64];
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)init);
    if (o.userns) snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)outer_uid);
    else snprintf(map, sizeof(map), "0 0 4294967295\n");
    write_file(path, map);
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)init);
    if (o.userns) snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)outer_gid);
    else snprintf(map, sizeof(map), "0 0 4294967295\n");
    write_file(path, map);
    write_all(down[1], "m");
  }
  close(up[0]);
  close(down[1]);
  return supervise(init);
}
