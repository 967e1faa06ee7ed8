// The tuner worker's neighborhood-attention subject: one NA kernel of one problem (tuner/tune_worker.hpp).
// The forward's candidates are checked on out and the log-sum-exp; the two gradient kernels are tuned as
// the backward pass (the query gradient writes delta, which the key gradient reads), each candidate in its
// own pass with the other kernel at its heuristic config, checked on the three gradients; the fused
// backward's candidates likewise, each the whole pass.
#include <fmt/format.h>

#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "runtime/na_plan.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/tune_worker.hpp"
#include "tuner/tuner_kernels.hpp"

namespace attnjit::detail {
namespace {

class NaSubject final : public TuneSubject {
 public:
  NaSubject(const NaProblem& p, KernelKind kind, std::uint64_t seed, const std::string& fault,
            const RuntimeOptions& options)
      : p_(p), kind_(kind), backward_(kind != KernelKind::na_forward), context_(current_context()),
        device_(device_info(context_)), cache_(options), heuristic_(na_heuristic_configs(p, device_.arch)),
        comparator_(p.dtype, device_.arch), float_comparator_(DType::f32, device_.arch) {
    validate(p);
    const std::size_t n = static_cast<std::size_t>(p.batch) * p.heads * p.length * p.head_dim;
    const std::size_t es = size_of(p.dtype), rows = na_logsumexp_elements(p);
    DeviceRandom random(p.dtype, device_.arch);
    query_ = random.normal(n, 4 * seed);
    key_ = random.normal(n, 4 * seed + 1);
    value_ = random.normal(n, 4 * seed + 2);
    grad_out_ = random.normal(n, 4 * seed + 3);
    if (fault == "wrong") wrong_value_ = random.normal(n, 4 * seed + 4);  // other values: another result
    out_ = DeviceBuffer(n * es);
    lse_ = DeviceBuffer(rows * 4);
    grad_query_ = DeviceBuffer(n * es);
    grad_key_ = DeviceBuffer(n * es);
    grad_value_ = DeviceBuffer(n * es);
    workspace_ = DeviceBuffer(na_workspace_bytes(p));
    results_ = !backward_ ? std::vector<DeviceBuffer*>{&out_, &lse_}
                          : std::vector<DeviceBuffer*>{&grad_query_, &grad_key_, &grad_value_};
    trusted_plan_ = make_na_plan(cache_, p_, heuristic_, context_, device_);
    detail::launch(trusted_plan_->forward, na_forward_params(*trusted_plan_, forward_args(value_.get(), query_.get())), nullptr);
    ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());  // out and the log-sum-exp, which the backward reads
    run_pass(*trusted_plan_, value_.get(), query_.get());
    for (const DeviceBuffer* b : results_) trusted_.push_back(b->copy());
  }

  // The heuristic's pass (for the backward, its whole pass: the heuristic may fuse where the candidate does
  // not, or not where it does), which the worker times once to size its rounds.
  void launch_trusted(CUstream stream) override {
    if (!backward_) return launch_kernel(*trusted_plan_, stream);
    launch_backward(*trusted_plan_, na_backward_params(p_, backward_args(value_.get(), query_.get())), stream);
  }

  const KernelLaunch& load(std::size_t index, const TileConfig& config) override {
    if (plans_.size() <= index) plans_.resize(index + 1);
    plans_[index] = make_na_plan(cache_, p_, na_candidate_configs(p_, kind_, config), context_, device_);
    return kernel_of(*plans_[index]);
  }

  Check check(std::size_t index, const std::string& fault) override {
    for (DeviceBuffer* b : results_) b->fill(0xFF);
    if (backward_) workspace_.fill(0xFF);
    // "crash": an address no allocation has, so the candidate's loads fault (CUDA_ERROR_ILLEGAL_ADDRESS).
    const void* q = fault == "crash" ? reinterpret_cast<const void*>(std::uintptr_t{1} << 47) : query_.get();
    run_pass(*plans_.at(index), fault == "wrong" ? wrong_value_.get() : value_.get(), q);
    Check c{true, ""};
    for (std::size_t k = 0; k < results_.size(); ++k) {
      const bool stats = results_[k] == &lse_;
      const Comparison r = (stats ? float_comparator_ : comparator_).compare(*results_[k], trusted_[k]);
      c.passed = c.passed && r.passed();
      c.summary += fmt::format("{}{:.2e}/{:g}{}", k ? ", " : "", r.error, r.limit,
                               r.nan_count ? fmt::format(" ({} NaN)", r.nan_count) : "");
    }
    return c;
  }

  void launch(std::size_t index, CUstream stream) override { launch_kernel(*plans_.at(index), stream); }
  // The key gradient reads delta, which the query gradient (or the fused backward) writes: the trusted pass
  // leaves it right.
  void before_timing() override {
    if (kind_ == KernelKind::na_backward_key) run_pass(*trusted_plan_, value_.get(), query_.get());
  }
  void drop(std::size_t index) override {
    if (index < plans_.size()) plans_[index].reset();
  }

 private:
  NaForwardArgs forward_args(const void* v, const void* q) const {
    return {q, key_.get(), v, out_.get(), static_cast<float*>(lse_.get())};
  }
  NaBackwardArgs backward_args(const void* v, const void* q) const {
    return {q,       key_.get(), v, out_.get(), static_cast<const float*>(lse_.get()), grad_out_.get(), grad_query_.get(),
            grad_key_.get(), grad_value_.get(), workspace_.get()};
  }
  const KernelLaunch& kernel_of(const NaPlan& plan) const {
    return kind_ == KernelKind::na_forward          ? plan.forward
           : kind_ == KernelKind::na_backward_query ? plan.backward_query
           : kind_ == KernelKind::na_backward_key   ? plan.backward_key
                                                    : plan.backward_fused;
  }
  // The forward, or the backward (fused or two kernels), under `plan`.
  void run_pass(const NaPlan& plan, const void* v, const void* q) {
    if (!backward_) {
      detail::launch(plan.forward, na_forward_params(plan, forward_args(v, q)), nullptr);
    } else {
      launch_backward(plan, na_backward_params(p_, backward_args(v, q)), nullptr);
    }
    ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  }
  // One launch of the tuned kernel (the key gradient reads the delta its pass's first kernel left).
  void launch_kernel(const NaPlan& plan, CUstream stream) {
    const NaParams params = backward_ ? na_backward_params(p_, backward_args(value_.get(), query_.get()))
                                      : na_forward_params(plan, forward_args(value_.get(), query_.get()));
    detail::launch(kernel_of(plan), params, stream);
  }

  NaProblem p_;
  KernelKind kind_;
  bool backward_;
  CUcontext context_;
  DeviceInfo device_;
  KernelCache cache_;
  NaConfigs heuristic_;
  DeviceComparator comparator_, float_comparator_;
  DeviceBuffer query_, key_, value_, grad_out_, wrong_value_, out_, lse_, grad_query_, grad_key_, grad_value_, workspace_;
  std::vector<DeviceBuffer*> results_;  // what a pass writes and the check compares
  std::vector<DeviceBuffer> trusted_;
  std::unique_ptr<NaPlan> trusted_plan_;
  std::vector<std::unique_ptr<NaPlan>> plans_;
};

}  // namespace

std::unique_ptr<TuneSubject> make_na_subject(const NaProblem& problem, KernelKind kind, std::uint64_t seed,
                                             const std::string& fault, const RuntimeOptions& options) {
  return std::make_unique<NaSubject>(problem, kind, seed, fault, options);
}

}  // namespace attnjit::detail
