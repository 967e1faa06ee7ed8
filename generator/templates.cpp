#include "generator/templates.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "generator/sha256.hpp"
#include "runtime/error.hpp"

namespace attnjit {

namespace {

void seal(TemplateSet& set) {
  std::string all;
  for (const auto& [name, text] : set.files) {
    all += name;
    all += '\0';
    all += std::to_string(text.size());
    all += '\0';
    all += text;
  }
  set.sha256 = sha256_hex(all);
}

TemplateSet embedded_templates() {
  TemplateSet set;
  set.origin = "embedded";
  for (std::size_t i = 0; i < detail::kEmbeddedTemplateCount; ++i) {
    set.files.emplace(detail::kEmbeddedTemplates[i].name, std::string(detail::kEmbeddedTemplates[i].text));
  }
  seal(set);
  return set;
}

}  // namespace

TemplateSet load_templates_from(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    detail::raise_invalid("ATTNJIT_TEMPLATE_DIR={} is not a folder; point it at the project's templates/ "
                          "or unset it to use the templates built into the library", folder);
  }
  TemplateSet set;
  set.origin = folder;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".cuh" && ext != ".h")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    set.files.emplace(entry.path().filename().string(), text.str());
  }
  if (set.files.empty()) detail::raise_invalid("ATTNJIT_TEMPLATE_DIR={} holds no .cuh or .h files", folder);
  seal(set);
  return set;
}

const TemplateSet& templates() {
  static const TemplateSet set = [] {
    const char* folder = std::getenv("ATTNJIT_TEMPLATE_DIR");
    return (folder != nullptr && *folder != '\0') ? load_templates_from(folder) : embedded_templates();
  }();
  return set;
}

}  // namespace attnjit
