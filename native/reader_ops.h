// Host /proc files opened, read and resolved as the FUSE caller (reader_pool.h).
#pragma once

#include <fuse_lowlevel.h>
#include <napi.h>

#include <memory>

#include "handle_table.h"

namespace procfuse {

// Runs on a FUSE worker. A handle whose reads depend on the reader: the pread
// happens on the reader pool, with the credentials of this read's caller,
// which replies. Otherwise a plain pread here.
void ServeReaderRead(fuse_req_t req, std::shared_ptr<ReaderFileHandle> h, size_t size, off_t off);

// Adds openAsReader and readlinkAsReader to the module's exports.
void InitReaderOps(Napi::Env env, Napi::Object exports);

}  // namespace procfuse
