// The neighborhood-attention half of KernelSpec's pure functions (kernel_spec.cpp dispatches here by kind).
#pragma once

#include <string>

#include "generator/kernel_spec.hpp"

namespace attnjit::detail {

KernelSpec na_canonical(const KernelSpec& spec);
std::string na_name(const KernelSpec& spec);  // e.g. na_fwd_bf16_clipped_L4096_D128_k7_d1_t32x40_w4_l16
std::string na_to_json(const KernelSpec& spec);
KernelSpec na_spec_from_json(const std::string& json);

}  // namespace attnjit::detail
