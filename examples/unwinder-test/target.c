// The process the unwinder looks at: a chain of named frames, stopped in
// pause(). middle() holds 16 KiB of locals, so outer() and main() sit at least
// four pages above leaf() on the stack, and a rule can fail "the outer part of
// the stack" without touching the frames below. Prints
//   ready outer_frame=0x...
// (an address inside outer's frame) once it is in place. See README.md.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile char *outer_frame;

void middle(void);
void outer(void);
int main(void);

__attribute__((noinline)) void leaf(void) {
  printf("ready outer_frame=%p leaf=%p middle=%p outer=%p main=%p\n", (void *)outer_frame, (void *)leaf,
         (void *)middle, (void *)outer, (void *)main);
  fflush(stdout);
  for (;;) pause();
}

__attribute__((noinline)) void middle(void) {
  volatile char pad[16384];
  memset((char *)pad, 1, sizeof pad);
  leaf();
  pad[0]++;
}

__attribute__((noinline)) void outer(void) {
  volatile char here[64];
  outer_frame = here;
  middle();
  here[0]++;
}

int main(void) {
  outer();
  return 0;
}
