/*
 * symbolize: a crash reporter's symbolizer in the way glog's does it
 * (src/symbolize.cc, OpenObjectFileContainingPcAndGetStartAddress).
 *
 *   1. open <proc>/self/maps and <proc>/self/mem; if either fails, give up:
 *      every address is "(unknown)" (the broken stack trace of the story);
 *   2. read maps line by line with pread at cumulative offsets;
 *   3. for every mapping whose perms start with 'r', pread an ELF header from
 *      mem at the mapping's start. Reading our own memory through mem, not by
 *      dereferencing, is the point: a crash handler must not fault again;
 *   4. a found header gives the object's load base (ET_EXEC: 0; ET_DYN: the
 *      mapping's start minus p_vaddr of the PT_LOAD with p_offset 0);
 *   5. for the executable mapping that holds the PC, open the mapped file by its
 *      path and look the PC up in .symtab, else .dynsym.
 *
 * usage: symbolize [PROC_ROOT]   (default /proc)
 * Prints one line per PC:  @ 0x7ff5f69e50bd write+0x0 (/usr/lib/x86_64-linux-gnu/libc.so.6)
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef Elf64_Ehdr Ehdr;
typedef Elf64_Phdr Phdr;
typedef Elf64_Shdr Shdr;
typedef Elf64_Sym Sym;

/* pread until `count` bytes or EOF; glog's ReadFromOffset. */
static ssize_t read_at(int fd, void *buf, size_t count, uint64_t off) {
  size_t done = 0;
  while (done < count) {
    ssize_t n = pread(fd, (char *)buf + done, count - done, (off_t)(off + done));
    if (n < 0) return -1;
    if (n == 0) break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

/* The next line of maps at *off, read with pread; -1 at the end or on a line we
 * cannot take (over 1023 bytes, or a last line without '\n': glog gives up). */
static int next_line(int fd, uint64_t *off, char line[1024]) {
  ssize_t n = pread(fd, line, 1023, (off_t)*off);
  if (n <= 0) return -1;
  char *nl = memchr(line, '\n', (size_t)n);
  if (!nl) return -1;
  *nl = '\0';
  *off += (uint64_t)(nl - line) + 1;
  return 0;
}

/* The load base of the ELF object whose header is at `start` in mem, or -1. */
static int load_base(int mem, uint64_t start, uint64_t *base) {
  Ehdr eh;
  if (read_at(mem, &eh, sizeof eh, start) != sizeof eh) return -1; /* [vvar] gives EIO, [vsyscall] EINVAL */
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return -1;
  if (eh.e_type == ET_EXEC) {
    *base = 0;
    return 0;
  }
  if (eh.e_type != ET_DYN) return -1;
  for (int i = 0; i < eh.e_phnum; i++) {
    Phdr ph;
    if (read_at(mem, &ph, sizeof ph, start + eh.e_phoff + (uint64_t)i * sizeof ph) != sizeof ph) return -1;
    if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
      *base = start - ph.p_vaddr;
      return 0;
    }
  }
  return -1;
}

/* Looks `addr` (an address in the object's own link-time terms) up in the
 * file's .symtab, else .dynsym. Of several symbols at one address (write,
 * __write, __libc_write) the public name, without '_', wins. */
static int lookup_symbol(const char *path, uint64_t addr, char *name, size_t cap, uint64_t *offset) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  struct stat st;
  void *map = fstat(fd, &st) == 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) return -1;
  const char *file = map;
  const Ehdr *eh = map;
  const Shdr *sh = (const Shdr *)(file + eh->e_shoff);
  int found = -1;
  for (uint32_t want = SHT_SYMTAB; found < 0 && want; want = want == SHT_SYMTAB ? SHT_DYNSYM : 0) {
    for (int s = 0; s < eh->e_shnum; s++) {
      if (sh[s].sh_type != want) continue;
      const Sym *sym = (const Sym *)(file + sh[s].sh_offset);
      const char *strtab = file + sh[sh[s].sh_link].sh_offset;
      const Sym *best = NULL;
      for (size_t i = 0; i < sh[s].sh_size / sizeof *sym; i++) {
        const Sym *y = &sym[i];
        if (ELF64_ST_TYPE(y->st_info) != STT_FUNC || y->st_value == 0) continue;
        if (addr < y->st_value || addr >= y->st_value + (y->st_size ? y->st_size : 1)) continue;
        if (!best || y->st_value > best->st_value ||
            (y->st_value == best->st_value && strtab[best->st_name] == '_' && strtab[y->st_name] != '_'))
          best = y;
      }
      if (best) {
        snprintf(name, cap, "%s", strtab + best->st_name);
        *offset = addr - best->st_value;
        found = 0;
      }
    }
  }
  munmap(map, (size_t)st.st_size);
  return found;
}

/* Prints "@ 0x<pc> <symbol>+0x<off> (<object>)", or "@ 0x<pc> (unknown)". */
static void symbolize(const char *proc, uintptr_t pc) {
  char path[256];
  snprintf(path, sizeof path, "%s/self/maps", proc);
  int maps = open(path, O_RDONLY);
  snprintf(path, sizeof path, "%s/self/mem", proc);
  int mem = open(path, O_RDONLY);
  if (maps < 0 || mem < 0) {
    /* glog's OpenObjectFileContainingPcAndGetStartAddress returns -1: no symbols. */
    if (maps < 0) fprintf(stderr, "symbolize: cannot open %s/self/maps\n", proc);
    else fprintf(stderr, "symbolize: cannot open %s: %s\n", path, strerror(errno));
    printf("    @ %#18" PRIxPTR "  (unknown)\n", pc);
    if (maps >= 0) close(maps);
    if (mem >= 0) close(mem);
    return;
  }
  char line[1024], object[1024] = "", name[256];
  uint64_t off = 0, base = 0, symoff = 0;
  int printed = 0;
  while (!printed && next_line(maps, &off, line) == 0) {
    uint64_t start, end, file_off;
    char perms[5];
    int name_at = 0;
    if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*s %*u %n", &start, &end, perms, &file_off, &name_at) < 4)
      break;
    const char *mapped = name_at ? line + name_at : "";
    uint64_t b;
    /* Remember the object whose ELF header starts this run of mappings. */
    if (perms[0] == 'r' && load_base(mem, start, &b) == 0) {
      base = b;
      snprintf(object, sizeof object, "%s", mapped);
    }
    if (pc < start || pc >= end || perms[2] != 'x') continue;
    if (mapped[0] == '/' && strcmp(mapped, object) == 0 &&
        lookup_symbol(mapped, pc - base, name, sizeof name, &symoff) == 0) {
      printf("    @ %#18" PRIxPTR "  %s+0x%" PRIx64 " (%s)\n", pc, name, symoff, mapped);
      printed = 1;
    }
    break;
  }
  if (!printed) printf("    @ %#18" PRIxPTR "  (unknown)\n", pc);
  close(maps);
  close(mem);
}

/* A function of our own, called from main: its return address is in main. */
__attribute__((noinline)) static void crash_handler(const char *proc) {
  void (*own)(const char *) = crash_handler;
  ssize_t (*libc_write)(int, const void *, size_t) = write;
  printf("*** Check failure stack trace: ***\n");
  symbolize(proc, (uintptr_t)own);
  symbolize(proc, (uintptr_t)__builtin_return_address(0));
  symbolize(proc, (uintptr_t)libc_write);
  fflush(stdout);
}

/* symbolize [PROC [PC...]]: with PCs, symbolize those instead, against
 * PROC/self: a directory whose `self` links to <mount>/<pid> symbolizes another
 * process (or a replayed snapshot, docs/snapshots.md) the same way. */
int main(int argc, char **argv) {
  if (argc > 2) {
    printf("*** Check failure stack trace: ***\n");
    for (int i = 2; i < argc; i++) symbolize(argv[1], (uintptr_t)strtoull(argv[i], NULL, 0));
    return 0;
  }
  crash_handler(argc > 1 ? argv[1] : "/proc");
  return 0;
}
