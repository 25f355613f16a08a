// auto in the registry: per call, the plan (auto_plan.hpp) over every other
// registered algorithm with an error model, then the fastest that meets the
// target runs; its info gains the plan.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/auto_plan.hpp>
#include <lorafgc/lora/plan_memo.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/auto_select/calibration_cache.hpp"
#include "lora/common/registered.hpp"

#include <cmath>
#include <type_traits>

namespace lorafgc::lora {

namespace {

class Auto final : public detail::Registered<Auto> {
 public:
  explicit Auto(const OptionValues& o) : Registered("auto", o) {
    o_.target_error = o.real("target_error");
    o_.margin = o.real("margin");
    o_.threads = static_cast<int>(o.integer("threads"));
    o_.calibrated = o.boolean("calibrated");
    o_.thrifty = o.boolean("thrifty");
  }
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    // The plan's work on p (the certified range, the chosen one's plan) is
    // reused by the run of its choice, for this call only.
    const PlanMemoScope memo(&p);
    const AutoPlan plan = plan_auto_validated(p, o_);  // compute validated p
    if (plan.chosen < 0) throw InvalidArgument("target_error", plan.unmet());
    const PlanRow& row = plan.rows[static_cast<std::size_t>(plan.chosen)];
    const auto chosen = detail::cached_algorithm(row.spec);
    Gradients<T> g = chosen->compute(p);
    record(plan, g.info);
    // Its counts, for the harness and the sweep's rates: auto's own depend on the choice.
    if (!g.info.count("flops")) g.info["flops"] = row.cost.flops;
    if (!g.info.count("workspace_bytes")) g.info["workspace_bytes"] = chosen->workspace_bytes(shape_of(p, false), sizeof(T));
    return g;
  }
  // Attention: the plan on the queries and keys (plan_auto_attention), then the
  // fastest's attention; the backward plans again and chooses the same.
  template <class IO>
  void attend(const AttentionShape& s, const IO& io) const {
    const AutoPlan plan = plan_auto_attention(s, io.q, io.k, o_);
    if (plan.chosen < 0) throw InvalidArgument("target_error", plan.unmet());
    const auto chosen = detail::cached_algorithm(plan.rows[static_cast<std::size_t>(plan.chosen)].spec);
    if constexpr (std::is_same_v<IO, AttentionForwardIO<float>> || std::is_same_v<IO, AttentionForwardIO<double>>)
      chosen->attention_forward(s, io);
    else
      chosen->attention_backward(s, io);
    if (io.info) record(plan, *io.info);
  }
  // The choice depends on the data: NaN here, the plan in info.
  Cost cost(const ProblemShape& s, int) const override {
    const double nan = std::nan("");
    return {nan, nan, nan, FlopKind::thin_gemm, static_cast<double>(s.length) * s.batch};
  }
  // The chosen algorithm's cost on this instance (NaN when none meets the target).
  Cost instance_cost(const Problem<float>& p, const ProblemShape& s) const override { return chosen_cost(p, s); }
  Cost instance_cost(const Problem<double>& p, const ProblemShape& s) const override { return chosen_cost(p, s); }
  double workspace_bytes(const ProblemShape&, int) const override { return std::nan(""); }
  void prepare(const ProblemShape& s, int scalar_bytes) const override { prepare_auto(s, scalar_bytes, o_); }

 private:
  template <class T>
  Cost chosen_cost(const Problem<T>& p, const ProblemShape& s) const {
    const AutoPlan plan = plan_auto(p, o_);
    return plan.chosen < 0 ? cost(s, sizeof(T)) : plan.rows[static_cast<std::size_t>(plan.chosen)].cost;
  }
  static void record(const AutoPlan& plan, std::map<std::string, double>& info) {
    const PlanRow& chosen = plan.rows[static_cast<std::size_t>(plan.chosen)];
    info["target_error"] = plan.options.target_error;
    info["planning_seconds"] = plan.seconds;
    info["beta_sensitivity"] = plan.beta_sensitivity;
    info["predicted_seconds"] = chosen.predicted_seconds;
    info["expected_error"] = chosen.expected_error;
    info["chosen[" + chosen.spec + "]"] = 1;
    for (const PlanRow& row : plan.rows) {
      info["expected_error[" + row.algorithm + "]"] = row.expected_error;
      if (row.reason.empty())
        info[(row.at_least ? "predicted_seconds_at_least[" : "predicted_seconds[") + row.algorithm + "]"] =
            row.predicted_seconds;
    }
  }

  AutoOptions o_;
};

}  // namespace

namespace families {

std::vector<Registration> auto_select() {
  Registration r;
  r.name = "auto";
  r.description =
      "Per call, predicts the time of every registered algorithm that can meet target_error (its error model and "
      "the calibrated cost model on this instance) and runs the fastest; info records the choice and the predictions.";
  r.exact = false;
  r.selector = true;
  // It returns what the chosen algorithm returns; between thread counts the
  // choice may change, by at most the target.
  r.accuracy = {Accuracy::Guarantee::target, 1e-4, 1e-12, "target_error=1e-4"};
  r.options = {
      real_option("target_error", 1e-3, open_interval(0, 1), "max_rel of the gradients to meet"),
      real_option("margin", 1, at_least(1), "ask the error models for target_error / margin"),
      integer_option("threads", 0, between(0, static_cast<double>(limit(Quantity::threads).max)),
                     "OpenMP threads of every candidate (0: the current default)"),
      boolean_option("calibrated", true,
                     "predict with each algorithm's calibration (measured once per process and shape, about 2 s); "
                     "false: the machine limit"),
      boolean_option("thrifty", true,
                     "also skip costing a candidate on the instance whose cost floor cannot beat the best prediction "
                     "by more than its own costing takes on this shape (the least measured after the first; auto's time is its "
                     "plan plus its run)"),
  };
  // The conformance harness runs the limit's predictions: calibrating four
  // algorithms per width, rank, mode, dtype and thread count takes minutes
  // there; test_auto.cpp runs the calibrated default. And a margin of 10: the
  // polynomial's gradient error reached 1.38 times its certified entry error
  // on the harness's own instances (d = 4, full, L = 130), so without one the
  // check would pass or fail with the candidate this machine's speed picks.
  r.variants = {"auto:calibrated=false,margin=10"};
  r.make = [](const OptionValues& o) { return std::make_unique<Auto>(o); };
  return {r};
}

}  // namespace families

}  // namespace lorafgc::lora
