// Internal error helpers. One generic check macro, instantiated per library (driver, NVRTC, SQLite):
// it evaluates a call once, and on failure throws attnjit::Error with the call's text, the library's
// own message and where it happened.
#pragma once

#include <fmt/format.h>

#include <string>

#include "attnjit/attnjit.hpp"

namespace attnjit::detail {

[[noreturn]] inline void raise(ErrorCode code, const std::string& message) { throw Error(code, message); }

template <class... Args>
[[noreturn]] void raise_invalid(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(ErrorCode::invalid_argument, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace attnjit::detail

// ATTNJIT_CHECK_GEN(call, success, describe, code): describe(status) -> std::string.
#define ATTNJIT_CHECK_GEN(call, success, describe, code)                                             \
  do {                                                                                              \
    auto attnjit_status_ = (call);                                                                  \
    if (attnjit_status_ != (success)) {                                                             \
      ::attnjit::detail::raise((code), ::fmt::format("{} failed: {} ({}:{})", #call,               \
                                                     describe(attnjit_status_), __FILE__, __LINE__)); \
    }                                                                                               \
  } while (0)
