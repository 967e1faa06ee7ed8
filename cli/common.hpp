// Small pieces the subcommands share.
#pragma once

#include <string>
#include <vector>

#include "attnjit/attnjit.hpp"
#include "cli/commands.hpp"
#include "generator/kernel_spec.hpp"

namespace attnjit::cli {

RuntimeOptions runtime_options(const GlobalOptions& global);

// The local GPU's arch ("sm_90"), or empty with `why` set when there is no usable GPU.
std::string local_arch(std::string* why);

// Every kernel spec of the problems (forward and backward, heuristic configs), without duplicates.
std::vector<KernelSpec> kernel_specs(const std::vector<MtaProblem>& problems);

std::string format_bytes(double bytes);

}  // namespace attnjit::cli
