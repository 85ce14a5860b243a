// Cost of reading another process's memory: pread on a pinned /proc/<pid>/mem fd
// (what native/mem_reader does) vs process_vm_readv, alone and with the cheap
// (insufficient, see mem_reader.cc) guard "pidfd alive + 1-byte pread".
// Build: cc -O2 -o /tmp/mem_read_bench bench/mem_read_bench.c ; run as root.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_LEN (64u << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

enum { PREAD, PVR, PVR_GUARD };
static const char *names[] = {"pread(mem fd)", "process_vm_readv", "pvr + guard"};

int main(void) {
  char *buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(buf, 0x5a, BUF_LEN);
  int ready[2];
  if (pipe(ready)) return 1;
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (size_t i = 0; i < BUF_LEN; i += 4096) buf[i] = (char)i;  // own, faulted-in pages
    if (write(ready[1], "x", 1) != 1) _exit(1);
    for (;;) pause();
  }
  char c;
  if (read(ready[0], &c, 1) != 1) return 1;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/mem", child);
  int memfd = open(path, O_RDONLY);
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  char *dst = malloc(1 << 20);
  size_t sizes[] = {4096, 65536, 1 << 20};
  printf("%-18s %8s %12s %10s\n", "method", "size", "ns/op", "GB/s");
  for (int s = 0; s < 3; s++) {
    size_t len = sizes[s];
    for (int m = 0; m < 3; m++) {
      for (int rep = 0; rep < 2; rep++) {  // first round warms up
        long ops = 0;
        uint64_t off = 0;
        double t0 = now(), t1;
        do {
          for (int k = 0; k < 64; k++) {
            uint64_t at = (uint64_t)(uintptr_t)buf + off;
            ssize_t n;
            if (m == PREAD) {
              n = pread(memfd, dst, len, (off_t)at);
            } else {
              struct iovec l = {dst, len}, r = {(void *)(uintptr_t)at, len};
              n = process_vm_readv(child, &l, 1, &r, 1, 0);
              if (m == PVR_GUARD) {
                char b;
                if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) != 0 || pread(memfd, &b, 1, (off_t)at) != 1)
                  n = -1;
              }
            }
            if (n != (ssize_t)len) {
              perror("read");
              return 1;
            }
            off = (off + len) % BUF_LEN;
            ops++;
          }
          t1 = now();
        } while (t1 - t0 < 0.5);
        if (rep == 1)
          printf("%-18s %8zu %12.0f %10.2f\n", names[m], len, (t1 - t0) / ops * 1e9, ops * (double)len / (t1 - t0) / 1e9);
      }
    }
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return 0;
}
