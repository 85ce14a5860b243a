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
// first read anywhere): such reads go to JS, which renders and calls Set().
struct BufferHandle : Handle {
  using Bytes = std::shared_ptr<const std::vector<char>>;

  BufferHandle(bool at_read, bool writes) : render_at_read(at_read), forward_writes(writes) {}

  // The current text, or nullptr before the first render.
  Bytes Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return data;
  }
  void Set(Bytes bytes) {
    std::lock_guard<std::mutex> lock(mu);
    data = std::move(bytes);
  }

  const bool render_at_read;
  // Writes go to JS (op 'write'), which performs them as the writer (uid_map...).
  const bool forward_writes;

 private:
  std::mutex mu;
  Bytes data;
};

// /proc/<pid>/mem bound to the target's mm at open.
struct MemHandle : Handle {
  explicit MemHandle(MemReader* r) : reader(r) {}
  std::unique_ptr<MemReader> reader;
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
