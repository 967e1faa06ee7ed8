// SHA-256 through OpenSSL's libcrypto: persisted keys and blob checksums (never std::hash).
#pragma once

#include <string>
#include <string_view>

namespace attnjit {

std::string sha256_hex(std::string_view bytes);  // 64 lowercase hex digits

}  // namespace attnjit
