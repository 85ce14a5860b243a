#include "handle_table.h"

#include <unistd.h>

namespace procfuse {

ReaderFileHandle::~ReaderFileHandle() { close(fd); }

HandleTable& HandleTable::Global() {
  static HandleTable* table = new HandleTable();  // never destroyed: workers may outlive statics
  return *table;
}

uint64_t HandleTable::Add(std::shared_ptr<Handle> h) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_++;
  map_.emplace(id, std::move(h));
  return id;
}

std::shared_ptr<Handle> HandleTable::Get(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : it->second;
}

std::shared_ptr<Handle> HandleTable::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(id);
  if (it == map_.end()) return nullptr;
  std::shared_ptr<Handle> h = std::move(it->second);
  map_.erase(it);
  return h;
}

}  // namespace procfuse
