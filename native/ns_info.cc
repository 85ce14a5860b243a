// Namespace chains (user or pid) through the nsfs ioctls (fs/nsfs.c ns_ioctl).
// Runs on the JS thread; blocking is bounded (a few open/ioctl calls on procfs/nsfs).
#include "ns_info.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace procfuse {
namespace {

// Closes an fd on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The user namespaces nest at most 32 deep (kernel/user_namespace.c create_user_ns);
// the bound guards against a loop if the ioctl ever misbehaved.
constexpr int kMaxDepth = 33;

}  // namespace

int NsChain(const char* ns_path, bool with_owner, std::vector<UserNsLevel>* out) {
  assert(out != nullptr);
  out->clear();
  // O_RDONLY on an ns link needs ptrace READ_FSCREDS access (proc_ns_get_link); the
  // daemon runs as root, so in practice only ENOENT/ESRCH (process gone) come back.
  Fd ns(open(ns_path, O_RDONLY | O_CLOEXEC));
  if (ns.get() < 0) return errno == ENOENT ? ESRCH : errno;
  for (int depth = 0; depth < kMaxDepth; depth++) {
    struct stat st;
    if (fstat(ns.get(), &st) != 0) return errno;
    UserNsLevel level;
    level.ino = static_cast<uint64_t>(st.st_ino);
    // NS_GET_OWNER_UID: creator's euid, mapped into our user namespace
    // (overflowuid when unmapped).
    uid_t owner = 0;
    if (with_owner && ioctl(ns.get(), NS_GET_OWNER_UID, &owner) != 0) return errno;
    level.owner_uid = static_cast<uint32_t>(owner);
    out->push_back(level);
    // NS_GET_PARENT: EPERM when the parent is outside our namespace scope
    // (this is our own user ns, or the init ns which has no parent).
    int parent = ioctl(ns.get(), NS_GET_PARENT);
    if (parent < 0) {
      if (errno == EPERM) return 0;
      return errno;
    }
    ns.reset(parent);
  }
  return ELOOP;
}

}  // namespace procfuse
