// attnjit::Runtime: plan once, then launch. The hot path is a hash lookup under a shared lock plus
// the cuLaunchKernel calls: no allocation, no formatting, no store access.
#include <fmt/format.h>

#include <bit>
#include <shared_mutex>
#include <unordered_map>

#include "attnjit/attnjit.hpp"
#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "runtime/mta_plan.hpp"
#include "runtime/na_plan.hpp"

namespace attnjit {

namespace {

struct PlanKey {
  CUcontext context;
  MtaProblem problem;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  std::size_t operator()(const PlanKey& k) const noexcept {
    const MtaProblem& p = k.problem;
    const int fields[] = {p.batch, p.in_channels, p.out_channels, p.length, p.kernel_h, p.kernel_w, p.stride_h,
                          p.stride_w, p.padding.top, p.padding.bottom, p.padding.left, p.padding.right,
                          p.dilation_h, p.dilation_w, p.groups, static_cast<int>(p.bias), static_cast<int>(p.norm),
                          static_cast<int>(p.dtype)};
    std::size_t h = std::hash<void*>{}(k.context);  // in-memory only; persisted keys use SHA-256
    for (int f : fields) h = h * 1000003u ^ static_cast<std::size_t>(f);
    return h;
  }
};

struct NaPlanKey {
  CUcontext context;
  NaProblem problem;
  bool operator==(const NaPlanKey&) const = default;
};

struct NaPlanKeyHash {
  std::size_t operator()(const NaPlanKey& k) const noexcept {
    const NaProblem& p = k.problem;
    const long long fields[] = {p.batch, p.heads, p.length, p.head_dim, p.kernel_size, p.dilation,
                                static_cast<int>(p.window), static_cast<int>(p.dtype),
                                std::bit_cast<long long>(p.scale == 0 ? 0.0 : p.scale)};  // -0.0 == 0.0
    std::size_t h = std::hash<void*>{}(k.context);
    for (long long f : fields) h = h * 1000003u ^ static_cast<std::size_t>(f);
    return h;
  }
};

template <class Problem>
void require(const void* pointer, const char* what, const Problem& p) {
  if (pointer == nullptr) detail::raise_invalid("{}: {} is null; pass a device pointer", describe(p), what);
}

// The L x L tensors are read and written 16 bytes at a time: their base must be 16-byte aligned
// (every allocator's fresh buffer is; a view into the middle of one may not be).
template <class Problem>
void require_aligned(const void* pointer, const char* what, const Problem& p) {
  require(pointer, what, p);
  if (reinterpret_cast<std::uintptr_t>(pointer) % 16 != 0) {
    detail::raise_invalid("{}: {} = {} is not 16-byte aligned; pass a fresh or contiguous copy", describe(p), what,
                          pointer);
  }
}

}  // namespace

struct Runtime::Impl {
  explicit Impl(const RuntimeOptions& options) : cache(options) {}

  const detail::MtaPlan& plan(const MtaProblem& problem) {
    return find_or_make(plans, PlanKey{detail::current_context(), problem}, [&](CUcontext context) {
      return detail::make_mta_plan(cache, problem, context, device_of(context));
    });
  }

  const detail::NaPlan& na_plan(const NaProblem& problem) {
    return find_or_make(na_plans, NaPlanKey{detail::current_context(), problem}, [&](CUcontext context) {
      return detail::make_na_plan(cache, problem, context, device_of(context));
    });
  }

  // The plan of `key`: a lookup under the shared lock on the hot path; on a miss, make(context) outside
  // every lock (it may compile), then the first plan inserted for the key wins.
  template <class Map, class Key, class Make>
  const typename Map::mapped_type::element_type& find_or_make(Map& map, const Key& key, Make make) {
    {
      std::shared_lock lock(mutex);
      if (auto it = map.find(key); it != map.end()) return *it->second;
    }
    auto plan = make(key.context);
    std::unique_lock lock(mutex);
    return *map.try_emplace(key, std::move(plan)).first->second;
  }

  const detail::DeviceInfo& device_of(CUcontext context) {
    std::unique_lock lock(mutex);
    auto it = devices.find(context);
    if (it == devices.end()) it = devices.emplace(context, detail::device_info(context)).first;
    return it->second;
  }

  detail::KernelCache cache;
  std::shared_mutex mutex;
  std::unordered_map<PlanKey, std::unique_ptr<detail::MtaPlan>, PlanKeyHash> plans;
  std::unordered_map<NaPlanKey, std::unique_ptr<detail::NaPlan>, NaPlanKeyHash> na_plans;
  std::unordered_map<CUcontext, detail::DeviceInfo> devices;
};

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_unique<Impl>(options)) {}
Runtime::~Runtime() = default;

void Runtime::prepare_mta(const MtaProblem& problem) { impl_->plan(problem); }

std::size_t Runtime::mta_backward_workspace_bytes(const MtaProblem& problem) {
  return impl_->plan(problem).workspace_bytes;
}

void Runtime::mta_forward(const MtaProblem& problem, const MtaForwardArgs& a, Stream stream) {
  const detail::MtaPlan& plan = impl_->plan(problem);
  require_aligned(a.scores, "scores", problem);
  require(a.weight, "weight", problem);
  require_aligned(a.out, "out", problem);
  require(a.row_stats, "row_stats", problem);
  if ((problem.bias == Bias::present) != (a.bias != nullptr)) {
    detail::raise_invalid("{}: bias pointer is {} but the problem says bias={}; make them agree", describe(problem),
                          a.bias ? "set" : "null", problem.bias == Bias::present ? "present" : "none");
  }
  const MtaParams params = detail::forward_params(problem, a);
  auto s = static_cast<CUstream>(stream);
  detail::launch(plan.row_stats, params, s);
  detail::launch(plan.forward, params, s);
}

void Runtime::mta_backward(const MtaProblem& problem, const MtaBackwardArgs& a, Stream stream) {
  const detail::MtaPlan& plan = impl_->plan(problem);
  require_aligned(a.scores, "scores", problem);
  require(a.weight, "weight", problem);
  require(a.row_stats, "row_stats", problem);
  require_aligned(a.grad_out, "grad_out", problem);
  require_aligned(a.grad_scores, "grad_scores", problem);
  require(a.grad_weight, "grad_weight", problem);
  require(a.workspace, "workspace (Runtime::mta_backward_workspace_bytes bytes)", problem);
  if ((problem.bias == Bias::present) != (a.grad_bias != nullptr)) {
    detail::raise_invalid("{}: grad_bias pointer is {} but the problem says bias={}; make them agree",
                          describe(problem), a.grad_bias ? "set" : "null",
                          problem.bias == Bias::present ? "present" : "none");
  }
  const MtaParams params = detail::backward_params(plan, a);
  auto s = static_cast<CUstream>(stream);
  detail::launch(plan.backward_input, params, s);
  if (plan.backward_weight.function != nullptr) detail::launch(plan.backward_weight, params, s);
  detail::launch(plan.reduce_weight, params, s);
}

std::vector<KernelChoice> Runtime::explain_mta(const MtaProblem& problem) { return impl_->plan(problem).choices; }

void Runtime::prepare_neighborhood_attention(const NaProblem& problem) { impl_->na_plan(problem); }

std::size_t Runtime::neighborhood_attention_workspace_bytes(const NaProblem& problem) {
  return impl_->na_plan(problem).workspace_bytes;
}

std::vector<KernelChoice> Runtime::explain_neighborhood_attention(const NaProblem& problem) {
  return impl_->na_plan(problem).choices;
}

void Runtime::neighborhood_attention_forward(const NaProblem& problem, const NaForwardArgs& a, Stream stream) {
  const detail::NaPlan& plan = impl_->na_plan(problem);
  require_aligned(a.query, "query", problem);
  require_aligned(a.key, "key", problem);
  require_aligned(a.value, "value", problem);
  require_aligned(a.out, "out", problem);
  require(a.logsumexp, "logsumexp (na_logsumexp_elements floats)", problem);
  detail::launch(plan.forward, detail::na_forward_params(plan, a), static_cast<CUstream>(stream));
}

void Runtime::neighborhood_attention_backward(const NaProblem& problem, const NaBackwardArgs& a, Stream stream) {
  const detail::NaPlan& plan = impl_->na_plan(problem);
  require_aligned(a.query, "query", problem);
  require_aligned(a.key, "key", problem);
  require_aligned(a.value, "value", problem);
  require_aligned(a.out, "out", problem);
  require(a.logsumexp, "logsumexp", problem);
  require_aligned(a.grad_out, "grad_out", problem);
  require_aligned(a.grad_query, "grad_query", problem);
  require_aligned(a.grad_key, "grad_key", problem);
  require_aligned(a.grad_value, "grad_value", problem);
  require(a.workspace, "workspace (Runtime::neighborhood_attention_workspace_bytes bytes)", problem);
  detail::launch_backward(plan, detail::na_backward_params(problem, a), static_cast<CUstream>(stream));
}

RuntimeStats Runtime::stats() const { return impl_->cache.stats(); }
std::string Runtime::cache_path() const { return impl_->cache.store_path(); }

}  // namespace attnjit
