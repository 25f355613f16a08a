// plan_auto (auto_plan.hpp): ask every error model for the target, cost what
// is within reach, predict its time, pick the fastest.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/auto_plan.hpp>
#include <lorafgc/lora/plan_memo.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/auto_select/calibration_cache.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

namespace lorafgc::lora {

namespace {

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", v);
  return buffer;
}

bool declares(const Registration& r, const std::string& option) {
  for (const auto& o : r.options)
    if (o.name == option) return true;
  return false;
}

std::string spec_with(const Registration& r, std::string options, int threads) {
  if (threads > 0 && declares(r, "threads")) options += (options.empty() ? "" : ",") + ("threads=" + std::to_string(threads));
  return options.empty() ? r.name : r.name + ":" + options;
}

// The row's predicted time; without a calibration (refused, or not asked
// for), the machine limit.
void predict(PlanRow& row, const std::optional<AlgorithmCalibration>& calibration, const MachineRates& rates) {
  row.calibrated = calibration.has_value();
  row.predicted_seconds = calibration ? predicted_seconds(row.cost, rates, *calibration) : predicted_seconds(row.cost, rates);
}

// cost_of(algorithm) -> Cost: the instance's or the shape's.
template <class CostOf>
AutoPlan plan_rows(const ProblemShape& shape, int scalar_bytes, const AutoOptions& o, CostOf cost_of) {
  validate(o);
  const auto start = std::chrono::steady_clock::now();
  AutoPlan plan;
  plan.options = o;
  plan.scalar_bytes = scalar_bytes;
  const double goal = o.target_error / o.margin;
  for (const Registration& r : registered_algorithms()) {
    if (r.oracle || !r.error_model) continue;
    PlanRow row;
    row.algorithm = r.name;
    const TargetOptions t = r.error_model(goal, shape, scalar_bytes);
    row.expected_error = t.expected_error;
    row.reason = t.reason;
    if (row.reason.empty()) {
      row.spec = spec_with(r, t.options, o.threads);
      try {
        // Calibrated first, so that a plan on a shape also prepares what the
        // data decides (prepare_auto).
        const std::string calibration_spec =
            spec_with(r, t.calibration_options.empty() ? t.options : t.calibration_options, o.threads);
        const auto calibration = o.calibrated ? detail::cached_calibration(calibration_spec, shape, scalar_bytes, o.threads)
                                              : std::nullopt;
        row.cost = cost_of(*make_algorithm(row.spec));
        if (std::isfinite(row.cost.flops))
          predict(row, calibration, detail::cached_rates(scalar_bytes, o.threads));
        else
          row.reason = "its cost depends on the data: plan on an instance";
      } catch (const InvalidArgument& e) {  // over a memory budget, a degree limit
        row.reason = e.what();
      }
      if (!row.reason.empty()) row.spec.clear();
    }
    plan.rows.push_back(std::move(row));
  }
  for (int i = 0; i < static_cast<int>(plan.rows.size()); ++i) {
    const PlanRow& row = plan.rows[i];
    if (row.reason.empty() && (plan.chosen < 0 || row.predicted_seconds < plan.rows[plan.chosen].predicted_seconds))
      plan.chosen = i;
    if (plan.closest < 0 || row.expected_error < plan.rows[plan.closest].expected_error) plan.closest = i;
  }
  plan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

}  // namespace

void validate(const AutoOptions& o) {
  if (!(o.target_error > 0 && o.target_error < 1))
    throw InvalidArgument("target_error", "must lie in (0, 1), got " + number(o.target_error));
  if (!(o.margin >= 1) || !std::isfinite(o.margin)) throw InvalidArgument("margin", "must be >= 1, got " + number(o.margin));
  if (o.threads < 0) throw InvalidArgument("threads", "must be >= 0, got " + std::to_string(o.threads));
}

std::string AutoPlan::unmet() const {
  if (chosen >= 0) return "";
  std::string text = "no registered algorithm meets target_error = " + number(options.target_error) +
                     (options.margin > 1 ? " (margin " + number(options.margin) + ")" : std::string()) + " in " +
                     (scalar_bytes == 4 ? "float32" : "float64");
  if (closest < 0) return text + ": none has an error model";
  const PlanRow& c = rows[static_cast<std::size_t>(closest)];
  return text + "; the closest is " + c.algorithm + " (expected max_rel " + number(c.expected_error) + ": " +
         c.reason + ")";
}

template <class T>
AutoPlan plan_auto(const Problem<T>& p, const AutoOptions& o) {
  validate(o);
  p.validate();
  const PlanMemoScope memo(&p);  // the candidates share their common work on p
  const ProblemShape shape = shape_of(p);
  return plan_rows(shape, sizeof(T), o, [&](const Algorithm& a) { return a.instance_cost(p, shape); });
}

AutoPlan plan_auto(const ProblemShape& shape, int scalar_bytes, const AutoOptions& o) {
  return plan_rows(shape, scalar_bytes, o, [&](const Algorithm& a) { return a.cost(shape, scalar_bytes); });
}

void prepare_auto(const ProblemShape& shape, int scalar_bytes, const AutoOptions& o) {
  plan_auto(shape, scalar_bytes, o);
}

template AutoPlan plan_auto(const Problem<float>&, const AutoOptions&);
template AutoPlan plan_auto(const Problem<double>&, const AutoOptions&);

}  // namespace lorafgc::lora
