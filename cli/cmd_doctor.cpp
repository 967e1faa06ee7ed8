// attnjit doctor: what this machine offers attnjit, and what is missing, in one screen.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cache/store.hpp"
#include "cli/common.hpp"
#include "generator/templates.hpp"
#include "runtime/driver.hpp"
#include "runtime/nvrtc.hpp"

namespace attnjit::cli {

namespace {

nlohmann::json gpu_report() {
  std::string why;
  if (!detail::driver_available(&why)) return {{"available", false}, {"reason", why}};
  const detail::DriverApi& cu = detail::driver();
  int driver_version = 0, count = 0;
  ATTNJIT_CU_CHECK(cu.cuDriverGetVersion(&driver_version));
  ATTNJIT_CU_CHECK(cu.cuDeviceGetCount(&count));
  nlohmann::json devices = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    CUdevice device = 0;
    ATTNJIT_CU_CHECK(cu.cuDeviceGet(&device, i));
    char name[256] = {};
    ATTNJIT_CU_CHECK(cu.cuDeviceGetName(name, sizeof name, device));
    auto attribute = [&](CUdevice_attribute a) {
      int v = 0;
      ATTNJIT_CU_CHECK(cu.cuDeviceGetAttribute(&v, a, device));
      return v;
    };
    std::size_t memory = 0;
    ATTNJIT_CU_CHECK(cu.cuDeviceTotalMem(&memory, device));
    devices.push_back({{"index", i}, {"name", name},
                       {"arch", fmt::format("sm_{}{}", attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                                            attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))},
                       {"sm_count", attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)},
                       {"l2_bytes", attribute(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)},
                       {"memory_bytes", memory}});
  }
  return {{"available", true},
          {"driver_version", fmt::format("{}.{}", driver_version / 1000, driver_version % 1000 / 10)},
          {"devices", devices}};
}

nlohmann::json store_report(const GlobalOptions& global) {
  if (global.no_cache) return {{"enabled", false}};
  const std::string path = cache::Store::path_or_default(global.cache_path);
  cache::Store store(path, cache::OpenMode::read_only);  // the doctor looks, it never creates or repairs
  const cache::StoreStats stats = store.stats();
  return {{"enabled", true}, {"path", path}, {"schema_version", store.schema_version()}, {"kernels", stats.kernels},
          {"cubin_bytes", stats.cubin_bytes}, {"file_bytes", stats.file_bytes}, {"warnings", store.warnings()}};
}

void print_text(const nlohmann::json& r) {
  fmt::print("attnjit {}\n", r["version"].get<std::string>());
  const auto& gpu = r["gpu"];
  if (gpu["available"]) {
    fmt::print("driver     CUDA {}\n", gpu["driver_version"].get<std::string>());
    for (const auto& d : gpu["devices"]) {
      fmt::print("gpu {}      {} ({}, {} SMs, {} memory, {} L2)\n", d["index"].get<int>(), d["name"].get<std::string>(),
                 d["arch"].get<std::string>(), d["sm_count"].get<int>(), format_bytes(d["memory_bytes"].get<double>()),
                 format_bytes(d["l2_bytes"].get<double>()));
    }
  } else {
    fmt::print("gpu        none: {}\n", gpu["reason"].get<std::string>());
  }
  const auto& nvrtc = r["nvrtc"];
  if (nvrtc["available"]) {
    fmt::print("nvrtc      {} ({})\n", nvrtc["version"].get<std::string>(), nvrtc["library"].get<std::string>());
  } else {
    fmt::print("nvrtc      none: {}\n", nvrtc["reason"].get<std::string>());
  }
  fmt::print("templates  {} ({} files, sha256 {})\n", r["templates"]["origin"].get<std::string>(),
             r["templates"]["files"].get<int>(), r["templates"]["sha256"].get<std::string>().substr(0, 16));
  const auto& store = r["store"];
  if (!store["enabled"]) {
    fmt::print("store      disabled (--no-cache)\n");
    return;
  }
  fmt::print("store      {}\n           schema {}, {} kernels, {} of cubins, file {}\n", store["path"].get<std::string>(),
             store["schema_version"].get<int>(), store["kernels"].get<std::size_t>(),
             format_bytes(store["cubin_bytes"].get<double>()), format_bytes(store["file_bytes"].get<double>()));
  for (const auto& w : store["warnings"]) fmt::print("           warning: {}\n", w.get<std::string>());
}

}  // namespace

Command add_doctor(CLI::App& app, const GlobalOptions& global) {
  auto json = std::make_shared<bool>(false);
  app.add_flag("--json", *json, "print the report as JSON");
  return [json, &global] {
    std::string why;
    const std::string nvrtc = detail::nvrtc_version(&why);
    const TemplateSet& set = templates();
    const nlohmann::json report = {
        {"version", version()},
        {"gpu", gpu_report()},
        {"nvrtc", nvrtc.empty() ? nlohmann::json{{"available", false}, {"reason", why}}
                                : nlohmann::json{{"available", true}, {"version", nvrtc}, {"library", detail::nvrtc_library()}}},
        {"templates", {{"origin", set.origin}, {"files", set.files.size()}, {"sha256", set.sha256}}},
        {"store", store_report(global)}};
    if (*json) {
      fmt::print("{}\n", report.dump(2));
    } else {
      print_text(report);
    }
    return 0;
  };
}

}  // namespace attnjit::cli
