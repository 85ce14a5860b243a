// A glog program that crashes in named functions: glog's failure signal
// handler prints the stack trace, symbolized through /proc/self/maps and the
// ELF headers it preads from /proc/self/mem, then re-raises the signal, so the
// process dies of SIGSEGV. See README.md.
#include <glog/logging.h>

extern "C" {
// noinline and the empty asm keep each function a real frame with a return
// address inside it (no tail calls).
__attribute__((noinline)) void crash_here(volatile int* p) { *p = 42; }
__attribute__((noinline)) void parse_config(volatile int* p) {
  crash_here(p);
  __asm__ volatile("");
}
__attribute__((noinline)) void start_server(volatile int* p) {
  parse_config(p);
  __asm__ volatile("");
}
}

int main(int, char** argv) {
  google::InitGoogleLogging(argv[0]);
  google::InstallFailureSignalHandler();
  start_server(nullptr);
  return 0;
}
