#include "runtime/nvrtc.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <memory>

#include "runtime/error.hpp"

namespace attnjit::detail {

std::vector<std::string> cuda_toolkit_roots() {
  std::vector<std::string> roots;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* home = std::getenv(var); home && *home) roots.emplace_back(home);
  }
  roots.emplace_back("/usr/local/cuda");
  roots.emplace_back("/usr/local/cuda-13.0");
  return roots;
}

namespace {

#define ATTNJIT_NVRTC_FUNCTIONS(X)                                                                   \
  X(nvrtcVersion) X(nvrtcGetErrorString) X(nvrtcCreateProgram) X(nvrtcDestroyProgram)              \
  X(nvrtcCompileProgram) X(nvrtcGetProgramLogSize) X(nvrtcGetProgramLog) X(nvrtcGetCUBINSize)      \
  X(nvrtcGetCUBIN) X(nvrtcAddNameExpression) X(nvrtcGetLoweredName)

struct NvrtcApi {
#define ATTNJIT_DECLARE(fn) decltype(&::fn) fn = nullptr;
  ATTNJIT_NVRTC_FUNCTIONS(ATTNJIT_DECLARE)
#undef ATTNJIT_DECLARE
  std::string library;
  std::string version;
  std::string error;  // empty when loaded
};

void* open_nvrtc(std::string& library, std::string& tried) {
  std::vector<std::string> candidates;
  if (const char* path = std::getenv("ATTNJIT_NVRTC"); path && *path) candidates.emplace_back(path);
  candidates.emplace_back("libnvrtc.so.13");
  for (const std::string& root : cuda_toolkit_roots()) candidates.push_back(root + "/lib64/libnvrtc.so.13");
  for (const auto& candidate : candidates) {
    if (void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      library = candidate;
      return handle;
    }
    tried += (tried.empty() ? "" : ", ") + candidate;
  }
  return nullptr;
}

NvrtcApi load_nvrtc() {
  NvrtcApi api;
  std::string tried;
  void* handle = open_nvrtc(api.library, tried);
  if (handle == nullptr) {
    api.error = fmt::format("NVRTC not found (tried {}); install the CUDA 13 toolkit, set ATTNJIT_NVRTC to "
                            "libnvrtc.so.13, or use a store that already holds the kernels", tried);
    return api;
  }
#define ATTNJIT_FETCH(fn)                                                            \
  api.fn = reinterpret_cast<decltype(api.fn)>(dlsym(handle, #fn));                   \
  if (api.fn == nullptr) {                                                           \
    api.error = fmt::format("{} lacks {}; it is not a usable NVRTC", api.library, #fn); \
    return api;                                                                      \
  }
  ATTNJIT_NVRTC_FUNCTIONS(ATTNJIT_FETCH)
#undef ATTNJIT_FETCH
  int major = 0, minor = 0;
  api.nvrtcVersion(&major, &minor);
  api.version = fmt::format("{}.{}", major, minor);
  return api;
}

const NvrtcApi& nvrtc() {
  static const NvrtcApi api = load_nvrtc();
  return api;
}

struct ProgramDeleter {
  void operator()(nvrtcProgram program) const noexcept { nvrtc().nvrtcDestroyProgram(&program); }
};
using Program = std::unique_ptr<std::remove_pointer_t<nvrtcProgram>, ProgramDeleter>;

std::string nvrtc_error(nvrtcResult status) { return nvrtc().nvrtcGetErrorString(status); }

#define ATTNJIT_NVRTC_CHECK(call) ATTNJIT_CHECK_GEN(call, NVRTC_SUCCESS, nvrtc_error, ::attnjit::ErrorCode::compile)

std::string program_log(nvrtcProgram program) {
  std::size_t size = 0;
  if (nvrtc().nvrtcGetProgramLogSize(program, &size) != NVRTC_SUCCESS || size <= 1) return {};
  std::string log(size, '\0');
  nvrtc().nvrtcGetProgramLog(program, log.data());
  log.resize(size - 1);
  return log;
}

}  // namespace

std::string nvrtc_version(std::string* why) {
  if (why != nullptr) *why = nvrtc().error;
  return nvrtc().error.empty() ? nvrtc().version : std::string();
}

std::string nvrtc_library() { return nvrtc().library; }

CompiledKernel compile(const RenderedKernel& kernel, const CompileTarget& target, const TemplateSet& templates) {
  const NvrtcApi& api = nvrtc();
  if (!api.error.empty()) raise(ErrorCode::no_compiler, fmt::format("cannot compile {}: {}", kernel.name, api.error));
  const auto start = std::chrono::steady_clock::now();
  std::vector<const char*> header_texts, header_names;
  for (const auto& [header, text] : templates.files) {
    header_names.push_back(header.c_str());
    header_texts.push_back(text.c_str());
  }
  nvrtcProgram raw = nullptr;
  ATTNJIT_NVRTC_CHECK(api.nvrtcCreateProgram(&raw, kernel.source.c_str(), (kernel.name + ".cu").c_str(),
                                             static_cast<int>(header_names.size()), header_texts.data(),
                                             header_names.data()));
  Program program(raw);
  ATTNJIT_NVRTC_CHECK(api.nvrtcAddNameExpression(raw, kernel.name_expression.c_str()));
  const std::vector<std::string> options = nvrtc_options(kernel, target);
  std::vector<const char*> option_ptrs;
  for (const auto& option : options) option_ptrs.push_back(option.c_str());
  const nvrtcResult status = api.nvrtcCompileProgram(raw, static_cast<int>(option_ptrs.size()), option_ptrs.data());
  CompiledKernel compiled;
  compiled.log = program_log(raw);
  if (status != NVRTC_SUCCESS) {
    raise(ErrorCode::compile, fmt::format("NVRTC could not compile {} ({}; options: {}; templates: {}):\n{}", kernel.name,
                                          nvrtc_error(status), fmt::join(options, " "), templates.origin, compiled.log));
  }
  const char* lowered = nullptr;
  ATTNJIT_NVRTC_CHECK(api.nvrtcGetLoweredName(raw, kernel.name_expression.c_str(), &lowered));
  compiled.lowered_name = lowered;
  std::size_t size = 0;
  ATTNJIT_NVRTC_CHECK(api.nvrtcGetCUBINSize(raw, &size));
  compiled.cubin.resize(size);
  ATTNJIT_NVRTC_CHECK(api.nvrtcGetCUBIN(raw, compiled.cubin.data()));
  compiled.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return compiled;
}

}  // namespace attnjit::detail
