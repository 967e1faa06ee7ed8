// Where the attnjit command is: $ATTNJIT_CLI, else beside the build's test folder (build/attnjit),
// found from this executable's own path so a build folder still works after it is moved.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace attnjit::testing {

inline std::string cli_path() {
  if (const char* path = std::getenv("ATTNJIT_CLI"); path && *path) return path;
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "attnjit").string();
}

}  // namespace attnjit::testing
