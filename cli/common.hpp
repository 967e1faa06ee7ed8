// Small pieces the subcommands share.
#pragma once

#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "cli/commands.hpp"
#include "generator/kernel_spec.hpp"
#include "runtime/kernel_cache.hpp"

namespace attnjit::cli {

RuntimeOptions runtime_options(const GlobalOptions& global);

// The local GPU's arch ("sm_90"), or empty with `why` set when there is no usable GPU.
std::string local_arch(std::string* why);

// Every kernel spec of the problems (forward and backward, heuristic configs), without duplicates.
std::vector<KernelSpec> kernel_specs(const std::vector<MtaProblem>& problems);
// arch: the target; the neighborhood-attention heuristic takes the forward on warpgroups for "sm_90".
std::vector<KernelSpec> kernel_specs(const std::vector<NaProblem>& problems, std::string_view arch = {});
// Both ops' kernel specs of what the problem flags or file describe (gen, compile).
struct ProblemArgs;
std::vector<KernelSpec> specs_of(const ProblemArgs& args, std::string_view arch = {});

// Fetches or compiles every spec for `arch` through `cache`, at most `jobs` NVRTC runs at once
// (0: one per core), in the specs' order.
std::vector<detail::Binary> compile_all(detail::KernelCache& cache, const std::vector<KernelSpec>& specs,
                                        const std::string& arch, int jobs = 0);

std::string format_bytes(double bytes);

}  // namespace attnjit::cli
