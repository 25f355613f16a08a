#pragma once
// auto's plan (docs/auto.md): for a requested error, every registered algorithm
// that has an error model (registry.hpp, ErrorModel), the options with which the
// model says it meets the target or why none do, its cost on the instance
// (Algorithm::instance_cost) and its predicted time (cost_model.hpp, with the
// algorithm's calibration on this machine). auto runs the fastest;
// lorafgc.lora.plan returns the table without running.
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/problem.hpp>

#include <limits>
#include <string>
#include <vector>

namespace lorafgc::lora {

struct AutoOptions {
  double target_error = 1e-3;  // max_rel of the gradients, in (0, 1)
  double margin = 1;           // the models are asked for target_error / margin (>= 1)
  int threads = 0;             // passed to every candidate (0: the current default)
  bool calibrated = true;      // predict with each algorithm's calibration; false: the machine limit
  // Also skip costing a candidate (on an instance) whose floor cannot beat the
  // best prediction by more than its own costing takes on this shape in this
  // process: auto's time is its plan plus its run (docs/auto.md, Pruning).
  bool thrifty = true;
};

struct PlanRow {
  std::string algorithm;  // registration name
  // What would run; empty when out of reach. A Chebyshev row carries the
  // instance's beta_sensitivity only once the plan has estimated it (it does
  // when it costs such a row; AutoPlan::beta_sensitivity is -1 otherwise).
  std::string spec;
  double expected_error = std::numeric_limits<double>::quiet_NaN();  // the model's max_rel
  std::string reason;     // non-empty: not a candidate, and why
  Cost cost;
  double predicted_seconds = std::numeric_limits<double>::quiet_NaN();
  bool calibrated = false;  // predicted with its calibration (else the machine limit)
  // predicted_seconds is a lower bound (its cost floors, Algorithm::cost_floors)
  // that already reached the best prediction (thrifty: less the time costing
  // this candidate takes), so the instance cost was not computed; cost is empty.
  bool at_least = false;
  // Thrifty planning: what costing this candidate took before on this shape, as
  // weighed against what costing it could gain (0: not yet learnt, or not thrifty).
  // Keyed by the spec before any refinement, so read it here, not from spec.
  double costing_seconds = 0;
};

struct AutoPlan {
  AutoOptions options;
  int scalar_bytes = 4;
  std::vector<PlanRow> rows;  // registry order
  int chosen = -1;            // the fastest row that meets the target; -1: none does
  int closest = -1;           // the row with the smallest expected error
  double seconds = 0;         // planning time, calibrations included
  // The instance's s_beta, estimated when a candidate that reads it is costed;
  // -1: not estimated, or a plan on a shape.
  double beta_sensitivity = -1;
  // "no registered algorithm meets ...; the closest is ..."; empty when one does.
  std::string unmet() const;
};

// Throws InvalidArgument naming target_error or margin.
void validate(const AutoOptions& options);

// On an instance: costs as the candidates would plan them (the polynomial's
// degree from the certified range, poly-hybrid's outliers).
template <class T>
AutoPlan plan_auto(const Problem<T>& problem, const AutoOptions& options);
// As plan_auto, on a problem the caller has validated (auto's run: its
// compute did; validating again was a tenth of the plan at L = 512).
template <class T>
AutoPlan plan_auto_validated(const Problem<T>& problem, const AutoOptions& options);
// On a shape: costs from the shape and its score_bound (Cauchy-Schwarz, so the
// polynomial's degree is that of the worst case); poly-hybrid, whose outliers
// need the data, is left out with that reason.
AutoPlan plan_auto(const ProblemShape& shape, int scalar_bytes, const AutoOptions& options);

// For attention on Q, K, V (lorafgc/lora/attention.hpp, validated by the
// caller): the plan for the LoRA problem of the same shape
// (attention_problem_shape), every candidate costed on these queries and keys
// (Algorithm::attention_cost: the polynomial's certified range, poly-hybrid's
// rows). The same inputs and calibrations give the same choice, so that
// auto's backward runs what its forward ran.
template <class T>
AutoPlan plan_auto_attention(const AttentionShape& shape, const T* q, const T* k, const AutoOptions& options);

// The calibrations the plan's predictions use, measured once per process and
// key (calibration_cache.cpp); auto's prepare() fills them before timing.
void prepare_auto(const ProblemShape& shape, int scalar_bytes, const AutoOptions& options);

extern template AutoPlan plan_auto(const Problem<float>&, const AutoOptions&);
extern template AutoPlan plan_auto(const Problem<double>&, const AutoOptions&);
extern template AutoPlan plan_auto_validated(const Problem<float>&, const AutoOptions&);
extern template AutoPlan plan_auto_validated(const Problem<double>&, const AutoOptions&);
extern template AutoPlan plan_auto_attention(const AttentionShape&, const float*, const float*, const AutoOptions&);
extern template AutoPlan plan_auto_attention(const AttentionShape&, const double*, const double*, const AutoOptions&);

}  // namespace lorafgc::lora
