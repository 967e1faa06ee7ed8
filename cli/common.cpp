#include "cli/common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <thread>

#include "cli/problem_args.hpp"
#include "runtime/driver.hpp"
#include "tuner/mta_heuristics.hpp"
#include "tuner/na_heuristics.hpp"

namespace attnjit::cli {

RuntimeOptions runtime_options(const GlobalOptions& global) {
  RuntimeOptions options;
  options.cache_path = global.cache_path;
  if (global.no_cache) options.cache_mode = CacheMode::off;
  return options;
}

std::string local_arch(std::string* why) {
  if (!detail::driver_available(why)) return {};
  const detail::DriverApi& cu = detail::driver();
  CUdevice device = 0;
  ATTNJIT_CU_CHECK(cu.cuDeviceGet(&device, 0));
  int major = 0, minor = 0;
  ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device));
  ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device));
  return fmt::format("sm_{}{}", major, minor);
}

std::vector<KernelSpec> kernel_specs(const std::vector<MtaProblem>& problems) {
  std::vector<KernelSpec> specs;
  for (const MtaProblem& problem : problems) {
    validate(problem);
    const MtaKernelSpecs s = mta_kernel_specs(problem, mta_configs(problem));
    for (const KernelSpec& spec : in_launch_order(s)) {
      if (std::find(specs.begin(), specs.end(), spec) == specs.end()) specs.push_back(spec);
    }
  }
  return specs;
}

std::vector<KernelSpec> kernel_specs(const std::vector<NaProblem>& problems, std::string_view arch) {
  std::vector<KernelSpec> specs;
  for (const NaProblem& problem : problems) {
    validate(problem);
    for (const KernelSpec& spec : in_launch_order(na_kernel_specs(problem, na_configs(problem, arch)))) {
      if (std::find(specs.begin(), specs.end(), spec) == specs.end()) specs.push_back(spec);
    }
  }
  return specs;
}

std::vector<KernelSpec> specs_of(const ProblemArgs& args, std::string_view arch) {
  const AnyProblems problems = any_problems_from(args);
  std::vector<MtaProblem> mta;
  std::vector<NaProblem> na;
  for (const auto& named : problems.mta) mta.push_back(named.problem);
  for (const auto& named : problems.na) na.push_back(named.problem);
  std::vector<KernelSpec> specs = kernel_specs(mta);
  for (const KernelSpec& spec : kernel_specs(na, arch)) specs.push_back(spec);
  return specs;
}

std::vector<detail::Binary> compile_all(detail::KernelCache& cache, const std::vector<KernelSpec>& specs,
                                        const std::string& arch, int jobs) {
  const std::size_t width = jobs > 0 ? static_cast<std::size_t>(jobs) : std::max(1u, std::thread::hardware_concurrency());
  std::vector<detail::Binary> binaries;
  for (std::size_t begin = 0; begin < specs.size(); begin += width) {
    std::vector<std::future<detail::Binary>> batch;
    for (std::size_t i = begin; i < std::min(specs.size(), begin + width); ++i) {
      batch.push_back(std::async(std::launch::async, [&cache, &arch, spec = specs[i]] { return cache.binary(spec, arch); }));
    }
    for (auto& f : batch) binaries.push_back(f.get());
  }
  return binaries;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (bytes >= 1024 && u < 3) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

}  // namespace attnjit::cli
