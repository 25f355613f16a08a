// plan_auto (auto_plan.hpp): ask every error model for the target, cost what
// is within reach, predict its time, pick the fastest.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/auto_plan.hpp>
#include <lorafgc/lora/plan_memo.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/auto_select/beta_sensitivity.hpp"
#include "lora/auto_select/calibration_cache.hpp"
#include "lora/common/certified_range.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
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

// A prediction; without a calibration (refused, or not asked for), the machine limit.
double predicted(const Cost& cost, const std::optional<AlgorithmCalibration>& calibration, const MachineRates& rates) {
  return calibration ? predicted_seconds(cost, rates, *calibration) : predicted_seconds(cost, rates);
}

struct Candidate {
  const Registration* registration = nullptr;
  std::shared_ptr<const Algorithm> algorithm;
  // Its options read the instance's beta sensitivity (TargetOptions::reads_beta_sensitivity),
  // not yet estimated: asked again before it is costed.
  bool refine = false;
  std::string costing_key;  // thrifty planning's record of what costing it takes
  std::optional<AlgorithmCalibration> calibration;
  double floor_seconds = 0;  // the least prediction its cost floors allow (with a plain form: but the plain case's)
  double costing_seconds = 0;  // thrifty: what its own costing takes on this shape (costing_seconds)
  // With a plain form (Registration::plain_form): the plain case's floor, and
  // that form's row when it is a candidate with the same options.
  double plain_floor_seconds = std::numeric_limits<double>::infinity();
  std::string plain_form;
  std::optional<std::size_t> plain;
  double outcome = std::nan("");  // once costed: its prediction, or infinity when refused
};

// A spec's options: the target's and then the instance's.
std::string joined(const TargetOptions& t) {
  return t.instance_options.empty() || t.options.empty() ? t.options + t.instance_options
                                                         : t.options + "," + t.instance_options;
}

// The options of a spec ("name:options" -> "options").
std::string options_of(const std::string& spec) {
  const auto colon = spec.find(':');
  return colon == std::string::npos ? std::string() : spec.substr(colon + 1);
}

// cost_of(algorithm) -> Cost: the instance's or the shape's; floors_of(algorithm)
// -> lower bounds on it (Algorithm::cost_floors); model_of(registration, goal,
// shape) -> its TargetOptions. Candidates are costed in the order of their
// floors, and one whose floor cannot beat the best prediction so far is not
// costed at all, nor (thrifty, on an instance: `learn`) one that cannot beat it
// by more than its own costing takes (PlanRow::at_least). estimate, when given,
// fills the shape's beta_sensitivity from the instance, once, before the first
// candidate whose options read it is costed: where exact wins by its floors the
// estimate (3-15 us at L = 512-4096, d = 4) would be wasted.
template <class CostOf, class FloorsOf, class ModelOf>
AutoPlan plan_rows(ProblemShape shape, int scalar_bytes, const AutoOptions& o, CostOf cost_of, FloorsOf floors_of,
                   ModelOf model_of, bool learn, const std::function<void(ProblemShape&)>& estimate = {}) {
  validate(o);
  const auto start = std::chrono::steady_clock::now();
  AutoPlan plan;
  plan.options = o;
  plan.scalar_bytes = scalar_bytes;
  plan.beta_sensitivity = shape.beta_sensitivity;
  const double goal = o.target_error / o.margin;
  const MachineRates rates = detail::cached_rates(scalar_bytes, o.threads);
  std::vector<Candidate> candidates;
  const auto set_floors = [&](Candidate& c, const std::vector<Cost>& floors, bool plain_first) {
    c.floor_seconds = floors.empty() ? 0.0 : std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < floors.size(); ++k) {
      const double seconds = predicted(floors[k], c.calibration, rates);
      double& floor = plain_first && k == 0 ? c.plain_floor_seconds : c.floor_seconds;
      floor = std::isnan(seconds) ? 0.0 : std::min(floor, seconds);  // NaN: no bound
    }
  };
  for (const Registration& r : registered_algorithms()) {
    if (r.oracle || !r.error_model) continue;
    PlanRow row;
    row.algorithm = r.name;
    const TargetOptions t = model_of(r, goal, shape);
    row.expected_error = t.expected_error;
    row.reason = t.reason;
    Candidate c;
    c.registration = &r;
    c.refine = estimate && t.reads_beta_sensitivity;
    if (row.reason.empty()) {
      row.spec = spec_with(r, joined(t), o.threads);
      try {
        // Calibrated first, so that a plan on a shape also prepares what the
        // data decides (prepare_auto).
        const std::string calibration_spec = spec_with(
            t.calibration_algorithm.empty() ? r : registration(t.calibration_algorithm), t.options, o.threads);
        if (o.calibrated) c.calibration = detail::cached_calibration(calibration_spec, shape, scalar_bytes, o.threads);
        c.algorithm = detail::cached_algorithm(row.spec);
        if (learn) c.costing_key = detail::costing_key(row.spec, shape, scalar_bytes);
        const std::vector<Cost> floors = floors_of(*c.algorithm);
        // On an instance (learn) the floors are cost_floors', whose first is then the plain case's.
        if (learn) c.plain_form = r.plain_form;
        const bool plain_first = !c.plain_form.empty() && !floors.empty();
        set_floors(c, floors, plain_first);
      } catch (const InvalidArgument& e) {
        row.reason = e.what();
        row.spec.clear();
        c.algorithm.reset();
      }
    }
    plan.rows.push_back(std::move(row));
    candidates.push_back(std::move(c));
  }
  // Thrifty, in the order of floor plus what its own costing takes (not the
  // range every polynomial shares): a candidate is chosen only after it is
  // costed, so that sum is the least auto can spend on it. By floors alone,
  // poly-hybrid (whose outlier search costs 0.1-0.4 ms at L = 1024-8192,
  // d = 4) went first wherever its floor lay a little under poly-cheb's
  // (costed in microseconds once the range is computed), and then ran its
  // search to lose to poly-cheb.
  for (Candidate& c : candidates)
    if (c.algorithm) c.costing_seconds = learn && o.thrifty ? detail::costing_seconds(c.costing_key) : 0.0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!candidates[i].algorithm || candidates[i].plain_form.empty()) continue;
    for (std::size_t j = 0; j < candidates.size(); ++j)
      if (plan.rows[j].algorithm == candidates[i].plain_form && candidates[j].algorithm &&
          options_of(plan.rows[j].spec) == options_of(plan.rows[i].spec))
        candidates[i].plain = j;
  }
  // The least prediction a candidate can still reach: with its plain form
  // costed, that case predicts the form's own prediction (which the best
  // already counts), so only the other cases' floors can beat it. poly-hybrid
  // was costed wherever its plain floor lay under poly-cheb's prediction by
  // more than its outlier search: at L = 2048, d = 4, T = 1, half the plan.
  const auto floor_of = [&](const Candidate& c) {
    const double plain = c.plain && !std::isnan(candidates[*c.plain].outcome) ? candidates[*c.plain].outcome
                                                                              : c.plain_floor_seconds;
    return std::min(c.floor_seconds, plain);
  };
  // A candidate never before its plain form: costed first, the form's
  // prediction may spare costing the other (poly-hybrid's outlier search).
  const auto key = [&](const Candidate& c) { return floor_of(c) + c.costing_seconds; };
  const auto order_key = [&](const Candidate& c) {
    return c.plain ? std::max(key(c), key(candidates[*c.plain])) : key(c);
  };
  std::vector<std::size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return order_key(candidates[a]) < order_key(candidates[b]); });
  // With the instance's beta sensitivity, the spec that would run (the floors
  // do not read it: the temperature term can only raise the degree).
  bool estimated = false;
  const auto estimated_spec = [&](const Candidate& c) {
    return spec_with(*c.registration, joined(model_of(*c.registration, goal, shape)), o.threads);
  };
  const auto refine = [&](Candidate& c, PlanRow& row) {
    if (!estimated) estimate(shape), estimated = true, plan.beta_sensitivity = shape.beta_sensitivity;
    row.spec = estimated_spec(c);
    c.algorithm = detail::cached_algorithm(row.spec);
    c.refine = false;
  };
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i : order) {
    PlanRow& row = plan.rows[i];
    Candidate& c = candidates[i];
    if (!c.algorithm) continue;
    // Its plain form costed, the floors again where the first ones would have
    // it costed: what that costing learnt (the certified range, in the plan
    // memo) can tell which cases are plain.
    if (c.plain && !std::isnan(candidates[*c.plain].outcome) && floor_of(c) < best - c.costing_seconds) {
      try {
        set_floors(c, floors_of(*c.algorithm), true);
      } catch (const InvalidArgument&) {  // the floors from before stand
      }
    }
    const double costing = c.costing_seconds, floor = floor_of(c);
    row.costing_seconds = costing;
    if (floor >= best - costing) {  // cannot win, or not by what costing it costs
      row.at_least = true;
      row.predicted_seconds = floor;
      row.calibrated = c.calibration.has_value();
      continue;
    }
    try {
      // Not charged to its costing: the estimate serves every row that reads it,
      // as the memo's shared work does.
      if (c.refine) refine(c, row);
      const auto costing_start = std::chrono::steady_clock::now();
      const double shared_before = detail::memo_shared_seconds();
      row.cost = cost_of(*c.algorithm);
      if (learn)
        detail::record_costing(c.costing_key,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - costing_start).count() -
                                   (detail::memo_shared_seconds() - shared_before));
      if (std::isfinite(row.cost.flops)) {
        row.calibrated = c.calibration.has_value();
        row.predicted_seconds = predicted(row.cost, c.calibration, rates);
        best = std::min(best, row.predicted_seconds);
        c.outcome = row.predicted_seconds;
      } else {
        row.reason = "its cost depends on the data: plan on an instance";
      }
    } catch (const InvalidArgument& e) {  // over a memory budget, a degree limit
      row.reason = e.what();
    }
    if (!row.reason.empty()) row.spec.clear(), c.outcome = std::numeric_limits<double>::infinity();
  }
  // Once estimated, every such row's spec is what would run; without the
  // estimate (nothing that reads it was costed) they carry none.
  for (std::size_t i = 0; i < candidates.size() && estimated; ++i)
    if (candidates[i].refine && !plan.rows[i].spec.empty()) plan.rows[i].spec = estimated_spec(candidates[i]);
  for (int i = 0; i < static_cast<int>(plan.rows.size()); ++i) {
    const PlanRow& row = plan.rows[i];
    if (row.reason.empty() && !row.at_least && !row.spec.empty() &&
        (plan.chosen < 0 || row.predicted_seconds < plan.rows[plan.chosen].predicted_seconds))
      plan.chosen = i;
    if (plan.closest < 0 || row.expected_error < plan.rows[plan.closest].expected_error) plan.closest = i;
  }
  plan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

// The registrations' error models: max_rel of the LoRA gradients.
auto lora_error_model(int scalar_bytes) {
  return [=](const Registration& r, double goal, const ProblemShape& shape) {
    return r.error_model(goal, shape, scalar_bytes);
  };
}

// For attention on Q, K, V: an exact algorithm's error is its rounding, the
// registry's tolerance, whatever the scores (max-subtracted; test_attention.cpp
// checks it against exact-reference with scores up to 1e4), where the LoRA
// model adds the adapters' amplification of large scores, which attention
// does not have. The others as for LoRA: their entry error is the same exp's.
auto attention_error_model(int scalar_bytes) {
  return [=](const Registration& r, double goal, const ProblemShape& shape) {
    if (!r.exact) return r.error_model(goal, shape, scalar_bytes);
    TargetOptions t;
    t.expected_error = r.accuracy.tolerance(scalar_bytes);
    if (t.expected_error > goal)
      t.reason = "its rounding tolerance " + number(t.expected_error) + " exceeds the target";
    return t;
  };
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
  p.validate();
  return plan_auto_validated(p, o);
}

template <class T>
AutoPlan plan_auto_validated(const Problem<T>& p, const AutoOptions& o) {
  validate(o);
  const auto start = std::chrono::steady_clock::now();  // planning_seconds: all of the plan's work on p
  const PlanMemoScope memo(&p);  // the candidates share their common work on p
  // The score bound from the rows the polynomial's floors and range start from
  // (shape_of would form Q and K a second time).
  ProblemShape shape = shape_of(p, false);
  shape.score_bound = detail::cauchy_schwarz_bound(*detail::memoized_rows(p, true), p.beta);
  shape.beta_sensitivity = -1;  // estimated when a candidate that reads it is costed
  AutoPlan plan = plan_rows(
      shape, sizeof(T), o, [&](const Algorithm& a) { return a.instance_cost(p, shape); },
      [&](const Algorithm& a) { return a.cost_floors(p, shape); }, lora_error_model(sizeof(T)), true,
      [&](ProblemShape& s) { s.beta_sensitivity = detail::first_order_beta_sensitivity(p); });
  plan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

template <class T>
AutoPlan plan_auto_attention(const AttentionShape& s, const T* q, const T* k, const AutoOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const ProblemShape shape = attention_problem_shape(s, q, k);
  AutoPlan plan = plan_rows(
      shape, sizeof(T), o, [&](const Algorithm& a) { return a.attention_cost(shape, s, q, k); },
      [](const Algorithm&) { return std::vector<Cost>{}; }, attention_error_model(sizeof(T)), false);
  plan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

AutoPlan plan_auto(const ProblemShape& shape, int scalar_bytes, const AutoOptions& o) {
  const auto cost_of = [&](const Algorithm& a) { return a.cost(shape, scalar_bytes); };
  return plan_rows(
      shape, scalar_bytes, o, cost_of, [&](const Algorithm& a) { return std::vector<Cost>{cost_of(a)}; },
      lora_error_model(scalar_bytes), false);
}

void prepare_auto(const ProblemShape& shape, int scalar_bytes, const AutoOptions& o) {
  plan_auto(shape, scalar_bytes, o);
}

template AutoPlan plan_auto(const Problem<float>&, const AutoOptions&);
template AutoPlan plan_auto(const Problem<double>&, const AutoOptions&);
template AutoPlan plan_auto_validated(const Problem<float>&, const AutoOptions&);
template AutoPlan plan_auto_validated(const Problem<double>&, const AutoOptions&);
template AutoPlan plan_auto_attention(const AttentionShape&, const float*, const float*, const AutoOptions&);
template AutoPlan plan_auto_attention(const AttentionShape&, const double*, const double*, const AutoOptions&);

}  // namespace lorafgc::lora
