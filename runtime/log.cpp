#include "runtime/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace attnjit::detail {

void log_warning(const std::string& message) {
  const char* level = std::getenv("ATTNJIT_LOG");
  if (level != nullptr && std::strcmp(level, "quiet") == 0) return;
  std::fprintf(stderr, "attnjit: warning: %s\n", message.c_str());
}

}  // namespace attnjit::detail
