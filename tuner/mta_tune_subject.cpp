// The tuner worker's mta subject: one mta kernel of one problem (tuner/tune_worker.hpp).
#include <fmt/format.h>

#include <algorithm>

#include "runtime/driver.hpp"
#include "runtime/kernel_cache.hpp"
#include "runtime/mta_plan.hpp"
#include "tuner/device_memory.hpp"
#include "tuner/mta_heuristics.hpp"
#include "tuner/tune_worker.hpp"
#include "tuner/tuner_kernels.hpp"

namespace attnjit::detail {
namespace {

bool is_backward(KernelKind kind) {
  return kind == KernelKind::mta_backward_input || kind == KernelKind::mta_backward_weight ||
         kind == KernelKind::mta_reduce_weight;
}

class MtaSubject final : public TuneSubject {
 public:
  MtaSubject(const MtaProblem& p, KernelKind kind, std::uint64_t seed, const std::string& fault,
             const RuntimeOptions& options)
      : p_(p), kind_(kind), backward_(is_backward(kind)), context_(current_context()), device_(device_info(context_)),
        cache_(options), heuristic_(mta_heuristic_configs(p)), comparator_(p.dtype, device_.arch) {
    validate(p);
    const DType t = p.dtype;
    const std::size_t es = size_of(t), L = p.length;
    const std::size_t n_scores = p.batch * p.in_channels * L * L;
    const std::size_t n_out = static_cast<std::size_t>(p.batch) * p.out_channels * p.out_h() * p.out_w();
    const std::size_t n_weight =
        static_cast<std::size_t>(p.out_channels) * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
    n_bias_ = p.bias == Bias::present ? p.out_channels : 0;
    // Random normal inputs made on the device. Future entries hold finite random values too: a candidate
    // that reads them changes its result and fails the comparison.
    DeviceRandom random(t, device_.arch);
    scores_ = random.normal(n_scores, 4 * seed);
    weight_ = random.normal(n_weight, 4 * seed + 1);
    bias_ = random.normal(n_bias_, 4 * seed + 2);
    grad_out_ = random.normal(n_out, 4 * seed + 3);
    out_ = DeviceBuffer(n_out * es);
    stats_ = DeviceBuffer(mta_row_stats_elements(p) * 4);
    grad_scores_ = DeviceBuffer(n_scores * es);
    grad_weight_ = DeviceBuffer(n_weight * es);
    grad_bias_ = DeviceBuffer(n_bias_ * es);
    if (fault == "wrong") {  // the weight with its first tap changed
      std::vector<std::uint8_t> bytes = weight_.download();
      const std::vector<std::uint8_t> changed = encode(t, {decode(t, {bytes.begin(), bytes.begin() + es})[0] + 1.0});
      std::copy(changed.begin(), changed.end(), bytes.begin());
      wrong_weight_ = DeviceBuffer(bytes.size());
      wrong_weight_.upload(bytes);
    }
    results_ = !backward_ ? std::vector<const DeviceBuffer*>{&out_}
                          : std::vector<const DeviceBuffer*>{&grad_scores_, &grad_weight_, &grad_bias_};
    // The trusted results: the heuristic kernels' on these inputs.
    trusted_plan_ = make_mta_plan(cache_, p_, heuristic_, context_, device_);
    workspace_ = DeviceBuffer(trusted_plan_->workspace_bytes);
    const MtaParams params = forward_params(p_, forward_args(weight_.get(), scores_.get()));
    detail::launch(trusted_plan_->row_stats, params, nullptr);  // the row statistics the backward reads
    detail::launch(trusted_plan_->forward, params, nullptr);
    ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
    run_pass(*trusted_plan_, weight_.get(), scores_.get());
    for (const DeviceBuffer* b : results_) trusted_.push_back(b->copy());
  }

  void launch_trusted(CUstream stream) override { launch_kernel(*trusted_plan_, stream); }

  const KernelLaunch& load(std::size_t index, const TileConfig& config) override {
    MtaConfigs configs = heuristic_;
    config_of(configs, kind_) = config;
    auto plan = make_mta_plan(cache_, p_, configs, context_, device_);
    if (plan->workspace_bytes > workspace_.bytes()) workspace_ = DeviceBuffer(plan->workspace_bytes);
    if (plans_.size() <= index) plans_.resize(index + 1);
    plans_[index] = std::move(plan);
    return launch_of(*plans_[index], kind_);
  }

  Check check(std::size_t index, const std::string& fault) override {
    if (!backward_) {
      out_.fill(0xFF);
      stats_.fill(0xFF);
    } else {
      for (DeviceBuffer* b : {&grad_scores_, &grad_weight_, &grad_bias_, &workspace_}) b->fill(0xFF);
    }
    // "crash": an address no allocation has, so the candidate's loads fault (CUDA_ERROR_ILLEGAL_ADDRESS).
    const void* s = fault == "crash" ? reinterpret_cast<const void*>(std::uintptr_t{1} << 47) : scores_.get();
    run_pass(*plans_.at(index), fault == "wrong" ? wrong_weight_.get() : weight_.get(), s);
    Check c{true, ""};
    for (std::size_t k = 0; k < results_.size(); ++k) {
      const Comparison r = comparator_.compare(*results_[k], trusted_[k]);
      c.passed = c.passed && r.passed();
      c.summary += fmt::format("{}{:.2e}/{:g}{}", k ? ", " : "", r.error, r.limit,
                               r.nan_count ? fmt::format(" ({} NaN)", r.nan_count) : "");
    }
    return c;
  }

  void launch(std::size_t index, CUstream stream) override { launch_kernel(*plans_.at(index), stream); }
  void drop(std::size_t index) override {
    if (index < plans_.size()) plans_[index].reset();
  }

 private:
  MtaForwardArgs forward_args(const void* w, const void* s) const {
    return {s, w, n_bias_ ? bias_.get() : nullptr, out_.get(), static_cast<float*>(stats_.get())};
  }
  MtaBackwardArgs backward_args(const void* w, const void* s) const {
    return {s, w, static_cast<const float*>(stats_.get()), grad_out_.get(), grad_scores_.get(), grad_weight_.get(),
            n_bias_ ? grad_bias_.get() : nullptr, workspace_.get()};
  }
  // One pass of the problem under `plan`: the forward (row statistics and output), or the backward.
  void run_pass(const MtaPlan& plan, const void* w, const void* s) {
    if (!backward_) {
      const MtaParams params = forward_params(p_, forward_args(w, s));
      detail::launch(plan.row_stats, params, nullptr);
      detail::launch(plan.forward, params, nullptr);
    } else {
      const MtaParams params = backward_params(plan, backward_args(w, s));
      detail::launch(plan.backward_input, params, nullptr);
      if (plan.backward_weight.function != nullptr) detail::launch(plan.backward_weight, params, nullptr);
      detail::launch(plan.reduce_weight, params, nullptr);
    }
    ATTNJIT_CU_CHECK(driver().cuCtxSynchronize());
  }
  void launch_kernel(const MtaPlan& plan, CUstream stream) {
    detail::launch(launch_of(plan, kind_),
                   backward_ ? backward_params(plan, backward_args(weight_.get(), scores_.get()))
                             : forward_params(p_, forward_args(weight_.get(), scores_.get())),
                   stream);
  }

  MtaProblem p_;
  KernelKind kind_;
  bool backward_;
  CUcontext context_;
  DeviceInfo device_;
  KernelCache cache_;
  MtaConfigs heuristic_;
  DeviceComparator comparator_;
  std::size_t n_bias_ = 0;
  DeviceBuffer scores_, weight_, bias_, grad_out_, out_, stats_, grad_scores_, grad_weight_, grad_bias_, workspace_;
  DeviceBuffer wrong_weight_;
  std::vector<const DeviceBuffer*> results_;
  std::vector<DeviceBuffer> trusted_;
  std::unique_ptr<MtaPlan> trusted_plan_;
  std::vector<std::unique_ptr<MtaPlan>> plans_;
};

}  // namespace

std::unique_ptr<TuneSubject> make_mta_subject(const MtaProblem& problem, KernelKind kind, std::uint64_t seed,
                                              const std::string& fault, const RuntimeOptions& options) {
  return std::make_unique<MtaSubject>(problem, kind, seed, fault, options);
}

}  // namespace attnjit::detail
