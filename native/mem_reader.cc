// STUB: replaced by the real implementation (issue 4).
#include "mem_reader.h"

#include <errno.h>
#include <unistd.h>

namespace procfuse {

MemReader* MemReader::Open(pid_t, bool, int* err) {
  *err = ENOSYS;
  return nullptr;
}
MemReader::~MemReader() {
  if (pidfd_ >= 0) close(pidfd_);
  if (memfd_ >= 0) close(memfd_);
}
ssize_t MemReader::Read(uint64_t, char*, size_t) { return -ENOSYS; }
ssize_t MemReader::Write(uint64_t, const char*, size_t) { return -ENOSYS; }
bool MemReader::Alive() const { return false; }

}  // namespace procfuse
