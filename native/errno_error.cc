#include "errno_error.h"

#include <string.h>

#include <string>

namespace procfuse {

const char* ErrnoName(int err) {
  // strerrorname_np is glibc >= 2.32 (Debian 12 has 2.36).
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "EUNKNOWN";
}

void ThrowErrnoError(Napi::Env env, const char* syscall, int err) {
  std::string message = std::string(syscall) + ": " + strerror(err);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.ThrowAsJavaScriptException();
}

}  // namespace procfuse
