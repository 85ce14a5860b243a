// Open-file state that lives on the native side, so that read, write and release
// are answered on the FUSE worker thread without a trip to the JS event loop.
// A FUSE file handle (fuse_file_info::fh) is an id in this table.
#pragma once

#include <stdint.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "mem_reader.h"

namespace procfuse {

struct Handle {
  virtual ~Handle() = default;
};

// Rendered text; reads slice it. Rendered once at open (seq_file single_open
// style), or, with render_at_read, again for every read at offset 0 (and for a
// first read anywhere): such reads go to JS, which renders and calls Set(). A
// render-at-read handle may start with the text made at open: the first read
// from offset 0 slices that one (no trip to JS), later ones regenerate, as
// seq_read does whenever a read starts at 0 (m->index 0).
struct BufferHandle : Handle {
  using Bytes = std::shared_ptr<const std::vector<char>>;

  BufferHandle(bool at_read, bool writes, bool lines)
      : render_at_read(at_read), forward_writes(writes), whole_lines(lines) {}

  // The current text, or nullptr before the first render.
  Bytes Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return data;
  }
  void Set(Bytes bytes) {
    std::lock_guard<std::mutex> lock(mu);
    data = std::move(bytes);
  }
  // The text made at open, set before the handle is shared.
  void SetInitial(Bytes bytes) {
    std::lock_guard<std::mutex> lock(mu);
    data = std::move(bytes);
    fresh = true;
  }
  // True once: the text is still the one made at open, not yet read from 0.
  bool TakeFresh() {
    std::lock_guard<std::mutex> lock(mu);
    bool was = fresh;
    fresh = false;
    return was;
  }

  const bool render_at_read;
  // Writes go to JS (op 'write'), which performs them as the writer (uid_map...).
  const bool forward_writes;
  // seq_file with one record per line (maps, mounts): a read returns whole lines.
  const bool whole_lines;

 private:
  std::mutex mu;
  Bytes data;
  bool fresh = false;
};

// How many of the `avail` bytes at a read's offset one read of `size` returns.
// seq_read copies whole records while they fit, and a partial one only when
// the first does not fit (a line longer than the request).
inline size_t ReadLength(const char* p, size_t avail, size_t size, bool whole_lines) {
  if (avail <= size || !whole_lines) return avail < size ? avail : size;
  for (size_t i = size; i > 0; i--) {
    if (p[i - 1] == '\n') return i;
  }
  return size;
}

// /proc/<pid>/mem bound to the target's mm at open.
struct MemHandle : Handle {
  explicit MemHandle(MemReader* r) : reader(r) {}
  std::unique_ptr<MemReader> reader;
};

// A host /proc file opened AS THE READER (reader_ops.h): the kernel decided at
// open, with the reader's credentials (f_cred is theirs). For a file whose
// kernel code looks at the READER at read time too (%pK, sysctl_perm,
// capable() in a show function), each FUSE read is a pread made by the reader
// pool with the credentials of that read's caller; for the others
// (opener_decides), a plain pread on the FUSE worker.
struct ReaderFileHandle : Handle {
  ReaderFileHandle(int f, bool opener) : fd(f), opener_decides(opener) {}
  ~ReaderFileHandle() override;
  const int fd;
  const bool opener_decides;
};

// Thread-safe: used from the JS thread (open) and FUSE workers (read/release).
class HandleTable {
 public:
  static HandleTable& Global();
  uint64_t Add(std::shared_ptr<Handle> h);
  std::shared_ptr<Handle> Get(uint64_t id);
  // Removes and returns the handle (nullptr if unknown).
  std::shared_ptr<Handle> Remove(uint64_t id);

 private:
  std::mutex mu_;
  uint64_t next_ = 1;  // 0 is "no handle"
  std::unordered_map<uint64_t, std::shared_ptr<Handle>> map_;
};

}  // namespace procfuse
