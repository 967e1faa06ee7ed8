// The CUDA templates the generated sources include: embedded in the library at build time, or read
// from $ATTNJIT_TEMPLATE_DIR when that is set (for kernel development without rebuilding).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace attnjit {

namespace detail {
struct EmbeddedFile {
  const char* name;
  std::string_view text;
};
extern const EmbeddedFile kEmbeddedTemplates[];
extern const std::size_t kEmbeddedTemplateCount;
}  // namespace detail

struct TemplateSet {
  std::map<std::string, std::string> files;  // include name -> text
  std::string origin;                        // "embedded" or the folder they were read from
  std::string sha256;                        // over every name and text, in name order
};

// The embedded set, or the folder named by ATTNJIT_TEMPLATE_DIR (read once per process).
const TemplateSet& templates();
TemplateSet load_templates_from(const std::string& folder);

}  // namespace attnjit
