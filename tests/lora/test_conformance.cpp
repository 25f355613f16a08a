// The conformance harness (after ggml's test-backend-ops): every registered
// LoRA algorithm, with every variant it declares, in float and double, partial
// and full, is checked for
//   - a declared accuracy: a guarantee and rounding tolerances per dtype
//     (lorafgc::lora::Accuracy); an algorithm without one fails here;
//   - agreement with the oracle in float64 on the same data: max_rel within the
//     declared tolerance (guarantee `rounding`), or every |G~ - G| entry within
//     the a-priori bound the result reports (guarantee `a_priori_bound`), or,
//     for a random estimate (guarantee `estimate`), max_rel within its declared
//     estimate tolerance at its tight options (a large rank);
//   - central finite differences of the true loss (double, small instance):
//     |fd - G~| <= fd error + (the a-priori bound, for approximate algorithms;
//     not for estimates, whose chain their own tests check exactly);
//   approximate algorithms run both checks once more with their declared tight
//   options, where the bound is negligible and the formulas themselves are
//   tested (the default a-priori bound is loose enough to hide a missing term);
//   - a cost model that is finite and, where the result reports its own flops,
//     the same count (or NaN for the shape, when the cost depends on the data,
//     and the run's own plan reported);
//   - bad input refused with InvalidArgument naming the argument;
//   - results independent of the thread count (and row-block size) within the
//     declared rounding tolerance, when the algorithm has a `threads` option.
// Adding a case: register the algorithm (algorithms/src/lora/<family>/
// registration.cpp). Nothing here names an algorithm.
#include "lora_support.hpp"

#include <catch2/catch.hpp>

#include <omp.h>

#include <cmath>
#include <limits>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

const Registration& oracle() {
  for (const auto& r : registered_algorithms())
    if (r.oracle) return r;
  throw std::logic_error("the registry has no oracle");
}

bool declares(const Registration& r, const std::string& option) {
  for (const auto& o : r.options)
    if (o.name == option) return true;
  return false;
}

std::string with_options(const std::string& spec, const std::string& options) {
  return options.empty() ? spec : spec + (spec.find(':') == std::string::npos ? ":" : ",") + options;
}

// Every spec the harness runs for a registration: its variants, and each with
// weights=true when the algorithm can return the d x d weight gradients.
std::vector<std::string> specs_of(const Registration& r) {
  std::vector<std::string> out = r.variants.empty() ? std::vector<std::string>{r.name} : r.variants;
  if (declares(r, "weights")) {
    const std::size_t n = out.size();
    for (std::size_t i = 0; i < n; ++i) out.push_back(with_options(out[i], "weights=true"));
  }
  return out;
}

// For approximate algorithms, the specs with the tight options.
std::vector<std::string> tight_specs_of(const Registration& r) {
  std::vector<std::string> out;
  if (!r.accuracy.tight_options.empty())
    for (const auto& spec : specs_of(r)) out.push_back(with_options(spec, r.accuracy.tight_options));
  return out;
}

// Well-scaled instances (entries of X W of order 1, score bound 1.5): where the
// declared rounding tolerances apply and the polynomial method's degree is small.
GeneratorConfig instance(Adaptation mode, long long L, long long d, long long r, long long batch,
                         std::uint64_t seed) {
  auto c = test::config(L, d, r, mode, 1.0, seed);
  c.score_bound = 1.5;
  c.batch = batch;
  return c;
}

template <class T>
void check_against_oracle(const Registration& r, const std::string& spec, const Problem<T>& p) {
  const auto algorithm = make_algorithm(spec);
  const Gradients<T> got = algorithm->compute(p);
  const auto truth = make_algorithm(oracle().name + (spec.find("weights=true") != std::string::npos ? ":weights=true" : ""))
                         ->compute(to_float64(p));
  const ErrorMetrics e = compare_gradients(got, truth);
  INFO(spec << " " << dtype_name<T>() << ": max_rel " << e.max_rel << ", max_abs " << e.max_abs);
  if (r.accuracy.guarantee == Accuracy::Guarantee::rounding) {
    CHECK(e.max_rel <= r.accuracy.tolerance(sizeof(T)));
    CHECK(e.loss_abs <= r.accuracy.tolerance(sizeof(T)) * std::abs(truth.loss));
  } else if (r.accuracy.guarantee == Accuracy::Guarantee::target) {
    CHECK(e.max_rel <= algorithm->options().real("target_error"));
  } else if (r.accuracy.guarantee == Accuracy::Guarantee::estimate) {
    // A random estimate claims an accuracy only at its tight options.
    CHECK(std::isfinite(e.max_rel));
    if (spec.find(r.accuracy.tight_options) != std::string::npos) CHECK(e.max_rel <= r.accuracy.estimate_tolerance);
  } else {
    REQUIRE(got.info.count("error_bound"));
    const double bound = got.info.at("error_bound");
    INFO("a-priori bound " << bound);
    CHECK(std::isfinite(bound));
    CHECK(e.max_abs <= bound);
  }
  // The cost model: finite, non-negative, and the count the result reports. An
  // algorithm that fits its own score range (info "T") is costed at that range.
  ProblemShape shape = shape_of(p);
  if (got.info.count("T")) shape.score_bound = got.info.at("T");
  // One whose cost depends on the data beyond the shape (poly-hybrid picking its
  // outliers from the norms) declares NaN and must report its plan per call.
  const double flops = algorithm->flops(shape), bytes = algorithm->workspace_bytes(shape, sizeof(T));
  if (std::isnan(flops) && std::isnan(bytes)) {
    REQUIRE(got.info.count("flops"));
    REQUIRE(got.info.count("workspace_bytes"));
    CHECK((std::isfinite(got.info.at("flops")) && got.info.at("flops") > 0));
    CHECK((std::isfinite(got.info.at("workspace_bytes")) && got.info.at("workspace_bytes") >= 0));
    return;
  }
  CHECK((std::isfinite(flops) && flops > 0));
  CHECK((std::isfinite(bytes) && bytes >= 0));
  if (got.info.count("flops")) CHECK(got.info.at("flops") == Approx(flops).epsilon(1e-12));
}

// Central differences of the true loss (the oracle's, in double). Tolerance as
// in test_finite_differences.cpp: truncation h^2/6 |f'''| and rounding u |loss| / h
// with h = 1e-5 max(1, |theta|) stay below 1e-6 max|G| + 1e-8; an approximate
// algorithm may further differ from the true gradient by its a-priori bound.
void check_finite_differences(const Registration& r, const std::string& spec, Problem<double> p) {
  const auto algorithm = make_algorithm(spec);
  const Gradients<double> g = algorithm->compute(p);
  const double slack = r.accuracy.guarantee == Accuracy::Guarantee::a_priori_bound ? g.info.at("error_bound") : 0.0;
  // auto: within its target of max|G| (the loss's gradient, up to the FD tolerance).
  const double target =
      r.accuracy.guarantee == Accuracy::Guarantee::target ? algorithm->options().real("target_error") : 0.0;
  const auto loss = [&](const Problem<double>& q) { return make_algorithm(oracle().name)->compute(q).loss; };
  for (Projection mu : kProjections) {
    if (!p.adapted(mu)) continue;
    const AdapterGradient<double>& G = *g.adapter[index(mu)];
    const double tol =
        (1e-6 + target) * std::max(G.dA.cwiseAbs().maxCoeff(), G.dB.cwiseAbs().maxCoeff()) + 1e-8 + slack;
    for (int which = 0; which < 2; ++which) {
      Matrix<double>& theta = which == 0 ? p.adapter[index(mu)]->B : p.adapter[index(mu)]->A;
      const Matrix<double>& grad = which == 0 ? G.dB : G.dA;
      double worst = 0;
      for (Eigen::Index k = 0; k < theta.size(); ++k) {
        const double keep = theta(k), h = 1e-5 * std::max(1.0, std::abs(keep));
        theta(k) = keep + h;
        const double up = loss(p);
        theta(k) = keep - h;
        const double down = loss(p);
        theta(k) = keep;
        worst = std::max(worst, std::abs((up - down) / (2 * h) - grad(k)));
      }
      INFO(spec << " " << key(mu) << (which == 0 ? ".B" : ".A") << ": worst |fd - g| " << worst << ", tolerance "
                << tol);
      CHECK(worst <= tol);
    }
  }
}

// Bad input names the argument: a wrong shape, a NaN, a rank mismatch.
void check_refusals(const std::string& spec) {
  const auto valid = generate<double>(test::config(12, 4, 2, Adaptation::Full));
  const auto refused = [&](const Problem<double>& p, const std::string& argument) {
    INFO(spec << " should refuse, naming " << argument);
    try {
      make_algorithm(spec)->compute(p);
      FAIL("accepted");
    } catch (const InvalidArgument& e) {
      CHECK(e.argument() == argument);
    }
  };
  auto p = valid;
  p.Y[0] = Matrix<double>::Zero(12, 5);
  refused(p, "Y");
  p = valid;
  p.X[0](2, 1) = std::numeric_limits<double>::quiet_NaN();
  refused(p, "X");
  p = valid;
  p.W[index(Projection::K)] = Matrix<double>::Zero(4, 3);
  refused(p, "Wk");
  p = valid;
  p.adapter[index(Projection::V)]->A = Matrix<double>::Zero(3, 4);
  p.adapter[index(Projection::V)]->B = Matrix<double>::Zero(4, 3);
  refused(p, "adapters['v']");
}

// One thread against three, with blocks small enough that every thread has
// several: only the order of the final sums changes.
template <class T>
void check_thread_independence(const Registration& r, const std::string& spec, const Problem<T>& p) {
  const std::string sep = spec.find(':') == std::string::npos ? ":" : ",";
  const std::string blocks = declares(r, "block") ? ",block=16" : "";
  const int before = omp_get_max_threads();
  const auto one = make_algorithm(spec + sep + "threads=1" + blocks)->compute(p);
  CHECK(omp_get_max_threads() == before);  // the run's thread limit ends with it
  const auto three = make_algorithm(spec + sep + "threads=3" + blocks)->compute(p);
  const ErrorMetrics e = compare_gradients(three, one);
  INFO(spec << " " << dtype_name<T>() << ": 1 vs 3 threads, max_rel " << e.max_rel);
  // auto may choose differently on another thread count: each choice meets the target.
  const bool target = r.accuracy.guarantee == Accuracy::Guarantee::target;
  const double tolerance =
      target ? 2 * make_algorithm(spec)->options().real("target_error") : r.accuracy.tolerance(sizeof(T));
  CHECK(e.max_rel <= tolerance);
  CHECK(e.loss_abs <= tolerance * std::abs(one.loss));
}

}  // namespace

TEST_CASE("every registered algorithm declares its accuracy", "[conformance]") {
  CHECK_NOTHROW(oracle());
  for (const auto& r : registered_algorithms()) {
    INFO(r.name);
    CHECK(r.accuracy.guarantee != Accuracy::Guarantee::none);
    CHECK(r.accuracy.float_tolerance > 0);
    CHECK(r.accuracy.double_tolerance > 0);
    CHECK(r.accuracy.double_tolerance <= r.accuracy.float_tolerance);
    CHECK(r.exact == (r.accuracy.guarantee == Accuracy::Guarantee::rounding));
    CHECK(r.exact == r.accuracy.tight_options.empty());
    CHECK((r.accuracy.guarantee == Accuracy::Guarantee::estimate) == (r.accuracy.estimate_tolerance > 0));
    for (const auto& spec : specs_of(r)) CHECK(make_algorithm(spec)->name() == r.name);
  }
}

TEST_CASE("every registered algorithm agrees with the oracle within its declared accuracy", "[conformance]") {
  for (const auto& r : registered_algorithms())
    for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
      // Partial with a batch of two sequences; L not a multiple of any block size.
      const long long batch = mode == Adaptation::Partial ? 2 : 1;
      INFO(to_string(mode));
      const auto c = instance(mode, 130, 8, 3, batch, 21);
      for (const auto& spec : specs_of(r)) {
        check_against_oracle(r, spec, generate<float>(c));
        check_against_oracle(r, spec, generate<double>(c));
      }
      // Tight options raise the rank C(d + g, g) steeply: d = 4 keeps it small
      // (and the float evaluation bound, which grows with the rank, below 1).
      const auto narrow = instance(mode, 130, 4, 3, batch, 22);
      for (const auto& spec : tight_specs_of(r)) {
        check_against_oracle(r, spec, generate<float>(narrow));
        check_against_oracle(r, spec, generate<double>(narrow));
      }
    }
}

// Random estimates are not within any tolerance of the gradient that finite
// differences could resolve; their chain is checked exactly against their own
// approximate kernel in their own tests (test_random_features.cpp).
TEST_CASE("every registered algorithm matches central finite differences of the loss", "[conformance]") {
  for (const auto& r : registered_algorithms()) {
    if (r.accuracy.guarantee == Accuracy::Guarantee::estimate) continue;
    std::vector<std::string> specs = specs_of(r), tight = tight_specs_of(r);
    specs.insert(specs.end(), tight.begin(), tight.end());
    for (const auto& spec : specs)
      for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
        INFO(to_string(mode));
        check_finite_differences(r, spec, generate<double>(instance(mode, 11, 4, 2, 1, 5)));
      }
  }
}

TEST_CASE("every registered algorithm refuses bad input naming the argument", "[conformance]") {
  for (const auto& r : registered_algorithms())
    for (const auto& spec : specs_of(r)) check_refusals(spec);
}

TEST_CASE("every registered algorithm with threads gives the same result on any thread count", "[conformance]") {
  for (const auto& r : registered_algorithms()) {
    if (!declares(r, "threads")) continue;
    for (const auto& spec : specs_of(r))
      for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
        const auto c = instance(mode, 200, 8, 3, 1, 8);
        INFO(to_string(mode));
        check_thread_independence(r, spec, generate<float>(c));
        check_thread_independence(r, spec, generate<double>(c));
      }
  }
}
