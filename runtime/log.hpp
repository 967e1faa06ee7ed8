// Warnings the library cannot return (a corrupt store set aside, a checksum mismatch) go to stderr,
// prefixed "attnjit: warning:". ATTNJIT_LOG=quiet silences them; nothing else is printed by the library.
#pragma once

#include <string>

namespace attnjit::detail {

void log_warning(const std::string& message);

}  // namespace attnjit::detail
