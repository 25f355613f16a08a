#pragma once
// The registry of LoRA gradient algorithms: a list of registrations, one per
// algorithm, each made in its family's folder (algorithms/src/lora/<family>/
// registration.cpp) and collected by the build. A registration function may run
// during static initialisation (a benchmark's default spec list is a global), so
// it builds everything it returns itself and reads no namespace-scope object. The C++ API, the benchmarks,
// the sweep, the tools, the Python module and the conformance harness all read
// this list and name no algorithm themselves.
#include <lorafgc/core/option_table.hpp>
#include <lorafgc/lora/algorithm.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace lorafgc::lora {

// What the conformance harness (tests/lora/test_conformance.cpp) holds an
// algorithm to. An algorithm that declares no guarantee or no tolerance fails it.
struct Accuracy {
  enum class Guarantee {
    none,
    rounding,        // equals the gradient up to rounding: max_rel against
                     // exact-reference in float64 <= tolerance
    a_priori_bound,  // info["error_bound"] bounds every |G~ - G| entry
    estimate,        // a random estimate, no bound: at tight_options (a large
                     // rank) max_rel against the oracle <= estimate_tolerance
    target,          // meets its option target_error (auto) where its error
                     // models hold: max_rel against the oracle <= target_error on
                     // the harness's instances, with the margin its variants set
  };
  Guarantee guarantee = Guarantee::none;
  // Relative rounding tolerances on max_rel = max ||G~ - G||_max / ||G||_max
  // between two evaluations that differ only by rounding (another order of
  // summation: a thread count; for `rounding`, also the float64 truth), on the
  // harness's well-scaled instances (entries of X W of order 1, L <= 512).
  double float_tolerance = 0;
  double double_tolerance = 0;
  // Approximate algorithms: options that make the approximation error
  // negligible next to rounding on the harness's instances (score bound <= 1.5),
  // so that finite differences test the gradient formulas themselves and not
  // only the a-priori bound, which is loose. Empty for exact algorithms.
  std::string tight_options;
  // `estimate` only: the max_rel the tight options reach on the harness's
  // instances (a sanity check of the estimate; its own tests check the chain
  // exactly against its approximate kernel).
  double estimate_tolerance = 0;

  double tolerance(int scalar_bytes) const { return scalar_bytes == 4 ? float_tolerance : double_tolerance; }
};

// How an algorithm meets a requested error, max_rel = max |G~ - G| / max |G|
// over all returned gradients against the truth: the options that do, or why
// none do. auto (lora/auto) asks every registration that has a model;
// docs/auto.md states each model and what it rests on.
struct TargetOptions {
  std::string options;        // added to the spec ("eps=0.001"); empty: the defaults
  // Added to the spec that runs, not to the one calibrated: what the instance
  // decides ("beta_sensitivity=1.41"), and would otherwise cost a calibration
  // per value.
  std::string instance_options;
  // instance_options read the shape's beta_sensitivity, which auto's plan
  // estimates on an instance only once it costs such a candidate (its spec
  // before that carries none).
  bool reads_beta_sensitivity = false;
  double expected_error = 0;  // the model's max_rel at those options
  std::string reason;         // non-empty: the target is out of the model's reach, and why
  // The registration whose calibration (with `options`) predicts this one's
  // time; empty: its own. poly-hybrid's is poly-cheb's: its sweeps are
  // poly-cheb's (the exact pairs enter as gathered flops), so that with no
  // outliers the two predict alike and timing noise between two calibrations
  // of one computation does not pick between them.
  std::string calibration_algorithm;
};
using ErrorModel = std::function<TargetOptions(double target_error, const ProblemShape& shape, int scalar_bytes)>;

struct Registration {
  std::string name;
  std::string description;
  bool exact = false;   // computes the gradient exactly, up to rounding
  bool oracle = false;  // the literal reference: tested against, not a contender in speed comparisons
  bool selector = false;  // runs one of the others (auto): measured against them, not beside them
  Accuracy accuracy;
  std::vector<OptionSpec> options;
  // Specs that comparisons (benchmarks, torch_compare.py) run by default;
  // empty means just `name`.
  std::vector<std::string> variants;
  std::function<std::unique_ptr<Algorithm>(const OptionValues&)> make;
  // Empty: auto does not consider it.
  ErrorModel error_model;
  // The registration this one's run is, cost and prediction included, when the
  // data leaves it nothing of its own to do (poly-hybrid without outliers is
  // poly-cheb); empty: none. Its first cost floor is then that case's, and
  // auto's plan, once it has costed the plain form, needs only the others to
  // decide whether costing this one can pay (lora/auto_select).
  std::string plain_form;
};

// Oracle first, then exact, then approximate algorithms; by name within each.
const std::vector<Registration>& registered_algorithms();
// Throws InvalidArgument("algorithm") naming the known algorithms.
const Registration& registration(const std::string& name);

// make_algorithm("exact") or make_algorithm("exact:block=32,threads=2").
// Unknown names or options throw InvalidArgument naming them.
std::unique_ptr<Algorithm> make_algorithm(const std::string& spec);
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const Options& options);

// The specs a comparison runs by default: the variants of every registration
// that `keep` accepts (only its name, the default configuration, with
// `defaults_only`), in registry order.
std::vector<std::string> registered_specs(const std::function<bool(const Registration&)>& keep,
                                          bool defaults_only = false);

// Every algorithm with its description and option table, for --help texts.
std::string algorithms_help();

}  // namespace lorafgc::lora
