// render(spec): the few lines of CUDA that bind a spec's constants and name one instantiation of a
// template in templates/; key(): SHA-256 over the canonical JSON of everything that changes the binary.
#pragma once

#include <string>
#include <vector>

#include "generator/kernel_spec.hpp"
#include "generator/templates.hpp"

namespace attnjit {

struct RenderedKernel {
  std::string name;             // name(spec)
  std::string source;           // the generated translation unit
  std::string name_expression;  // for nvrtcAddNameExpression / nvrtcGetLoweredName
  std::vector<std::string> options;  // NVRTC options, without the arch
  std::string spec_json;
  bool sm90a = false;  // uses wgmma: compiles for sm_90a (sm_90's arch-specific features), for sm_90 targets only
  bool fast_compile = false;  // an mta kernel: compiled at fast_compile_level() where NVRTC has the option
};

RenderedKernel render(const KernelSpec& spec);

// The device type of a dtype in the templates: "float", "attnjit::f16_t", "attnjit::bf16_t".
const char* device_type(DType dtype);

struct CompileTarget {
  std::string arch;           // "sm_90"
  std::string nvrtc_version;  // "13.0"
};

// NVRTC's --Ofast-compile level for the mta kernels: $ATTNJIT_FAST_COMPILE (0, min, mid or max), else 0
// (off). An opt-in trade: "min" cuts NVRTC's time for the slowest mta kernels by a quarter to a third (the
// input gradients of 7x7 and 6x11 depthwise filters, 0.66 -> 0.40-0.45 s on the build machine), but the
// kernels it makes ran 1.2-5.5x slower on the H100 (groups=1 K7 backward 1.67 -> 9.2 ms,
// bench/results/2026-11-24_H100_3213077/fast_compile.txt). An Error names any other value.
std::string fast_compile_level();

// The kernel's options plus the target: --gpu-architecture=target.arch, or sm_90a for a kernel that uses
// wgmma (an Error for any target but sm_90); --Ofast-compile=fast_compile_level() for a fast_compile kernel
// where the NVRTC version (target.nvrtc_version) is 12.8 or later, which has the option.
std::vector<std::string> nvrtc_options(const RenderedKernel& kernel, const CompileTarget& target);

// SHA-256 of the source and every template it can include: what the store matches binaries on when
// the NVRTC version is unknown.
std::string source_sha256(const RenderedKernel& kernel, const TemplateSet& templates);

// The canonical JSON a key hashes: {arch, attnjit_version, nvrtc_version, options, source, templates}
// with sorted keys and no whitespace. Pinned by golden tests: changing it orphans every stored kernel.
std::string key_json(const RenderedKernel& kernel, const CompileTarget& target, const std::string& templates_sha256);

// SHA-256 of key_json(): the store's primary key of a binary.
std::string key(const RenderedKernel& kernel, const CompileTarget& target, const TemplateSet& templates);

}  // namespace attnjit
