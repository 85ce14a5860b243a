// Errors thrown to JavaScript carry the shape of Node's own SystemError:
// { message, code: 'ESRCH', errno: -3, syscall: 'pidfd_open' }.
#pragma once
#include <napi.h>

namespace procfuse {

// Returns the libc name of a positive errno ("ENOENT"), or "EUNKNOWN".
const char* ErrnoName(int err);

// Throws (as a pending JS exception) an Error for `syscall` failing with `err` (> 0).
void ThrowErrnoError(Napi::Env env, const char* syscall, int err);

}  // namespace procfuse
