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

// Text rendered once at open (seq_file single_open style); reads slice it.
struct BufferHandle : Handle {
  std::vector<char> data;
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
  size_t Size();

 private:
  std::mutex mu_;
  uint64_t next_ = 1;  // 0 is "no handle"
  std::unordered_map<uint64_t, std::shared_ptr<Handle>> map_;
};

}  // namespace procfuse
