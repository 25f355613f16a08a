// poly-hybrid: the polynomial method with the longest rows of Q and K exact.
#include "lora_support.hpp"

#include "lora/poly/exp_polynomial.hpp"
#include "lora/poly/outlier_rows.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

GeneratorConfig llm(long long L, Adaptation mode, double score_bound, long long batch = 1) {
  auto c = test::config(L, 8, 4, mode, 1.0, 11);
  c.family = InstanceFamily::Llm;
  c.score_bound = score_bound;
  c.batch = batch;
  return c;
}

template <class T>
ErrorMetrics against_oracle(const std::string& spec, const Problem<T>& p, Gradients<T>* out = nullptr) {
  const Gradients<T> g = make_algorithm(spec)->compute(p);
  if (out) *out = g;
  return compare_gradients(g, make_algorithm("exact-reference")->compute(to_float64(p)));
}

}  // namespace

// With every row an outlier, E~ is the exact exp matrix (the polynomial part is
// empty): the result is the exact gradient up to rounding, which the
// registration's rounding tolerances bound (1e-12 double, 1e-4 float, for
// scores of order 1). Scores up to ~50 in float (llm, T_cs = 400): without the
// per-row shift exp(S) would overflow.
TEST_CASE("poly-hybrid with every row exact is the exact gradient", "[poly][hybrid]") {
  const Accuracy& a = registration("poly-hybrid").accuracy;
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full})
    for (double T : {2.0, 400.0}) {
      const auto c = llm(300, mode, T, 2);
      const std::string spec = "poly-hybrid:outliers=300,block=64";
      Gradients<float> gf;
      const ErrorMetrics ef = against_oracle(spec, generate<float>(c), &gf);
      const ErrorMetrics ed = against_oracle(spec, generate<double>(c));
      INFO(to_string(mode) << " T_cs = " << T << ": max_rel float " << ef.max_rel << ", double " << ed.max_rel
                           << ", T_used " << gf.info.at("T_used"));
      CHECK(gf.info.at("outlier_queries") == 300);
      CHECK(gf.info.at("outlier_keys") == 300);
      // Scores of size T_centred round by (d + 4) u T_centred in float (3e-5
      // relative in exp at T_cs = 400, where the entries reach |S'| ~ 50): the
      // run's eval_error. Softmax doubles an entry's relative error and dS's
      // two terms double it again.
      CHECK(ef.max_rel <= a.tolerance(sizeof(float)) + 4 * gf.info.at("eval_error"));
      CHECK(ed.max_rel <= a.tolerance(sizeof(double)));
    }
}

// At degree 24 the polynomial part's error is far below rounding (T <= 2 here),
// so a hybrid that pairs every exact term with the right rows and columns
// matches exact-reference to rounding (well below 1e-11 relative in double, as
// poly-cheb at degree 24): a pair counted twice or left out would show as an
// error of the size of one softmax entry. The a-priori bound is too loose to
// see that.
TEST_CASE("poly-hybrid at high degree matches exact-reference to rounding", "[poly][hybrid]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
    auto c = llm(200, mode, 12.0, 2);
    c.width = 3;
    c.llm.outlier_channels = 1;
    const Problem<double> p = generate<double>(c);
    const auto truth = make_algorithm("exact-reference")->compute(p);
    for (const std::string spec : {"poly-hybrid:outliers=13,block=64,degree=24",
                                   "poly-hybrid:outliers=70,block=64,degree=24,threads=1,weights=true"}) {
      const auto got = make_algorithm(spec)->compute(p);
      INFO(spec << " " << to_string(mode) << ", T_used " << got.info.at("T_used") << ", T_bulk " << got.info.at("T_bulk"));
      // Fixed counts are dropped when they do not narrow the range: then nothing here tests the pairs.
      REQUIRE(got.info.at("outlier_keys") > 0);
      CHECK(got.info.at("T_used") <= 2);
      CHECK(compare_gradients(got, spec.find("weights") != std::string::npos
                                       ? make_algorithm("exact-reference:weights=true")->compute(p)
                                       : truth)
                .max_rel <= 1e-11);
    }
  }
}

// Outliers set the bound on llm instances: the hybrid leaves the polynomial a
// smaller range, so a lower degree meets the same eps, and the a-priori bound
// (now over exact and polynomial entries) still holds. Fixed counts that are
// not multiples of the block size and single-thread runs exercise the block
// edges and the merging of per-thread sums.
TEST_CASE("poly-hybrid meets its a-priori bound at a lower degree where outliers set the range", "[poly][hybrid]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
    const auto c = llm(1000, mode, 20.0);
    Gradients<double> cheb, hybrid;
    against_oracle("poly-cheb", generate<double>(c), &cheb);
    for (const std::string spec : {"poly-hybrid", "poly-hybrid:outliers=37,block=100,threads=1"}) {
      const ErrorMetrics e = against_oracle(spec, generate<double>(c), &hybrid);
      INFO(spec << " " << to_string(mode) << ": max_abs " << e.max_abs << ", degree " << hybrid.info.at("degree")
                << " vs " << cheb.info.at("degree") << ", T " << hybrid.info.at("T") << " vs " << cheb.info.at("T"));
      REQUIRE(hybrid.info.count("error_bound"));
      CHECK(e.max_abs <= hybrid.info.at("error_bound"));
      CHECK(hybrid.info.at("T_bulk") < hybrid.info.at("T_used"));
      CHECK(hybrid.info.at("degree") < cheb.info.at("degree"));
    }
    Gradients<float> f;
    const ErrorMetrics ef = against_oracle("poly-hybrid", generate<float>(c), &f);
    INFO("float: max_abs " << ef.max_abs);
    REQUIRE(f.info.count("error_bound"));
    CHECK(ef.max_abs <= f.info.at("error_bound"));
  }
}

// A few rows far along one direction: the data's key centre (the bounding box's
// midpoint, closer to the farthest key than the mean) sits halfway out to them,
// and a bulk bounded around it keeps half their reach. Re-centred on the bulk's
// mean (option recentre), T_bulk is Cauchy-Schwarz on the bulk around it; the
// exact pairs, computed with the same centre, keep the result exact at degree
// 24 and within the a-priori bound.
TEST_CASE("poly-hybrid:recentre=true re-centres the keys on the bulk", "[poly][hybrid]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
    Problem<double> p = generate<double>(test::config(400, 4, 2, mode, 1.0, 5));
    const std::vector<Eigen::Index> outliers{3, 50, 51, 120, 200, 301, 302, 399};
    test::push_rows_far(p, outliers, 10);
    const Matrix<double> Q = p.X[0] * p.effective_weight(Projection::Q), K = p.X[0] * p.effective_weight(Projection::K);
    std::vector<Eigen::Index> bulk;
    for (Eigen::Index i = 0; i < 400; ++i)
      if (std::find(outliers.begin(), outliers.end(), i) == outliers.end()) bulk.push_back(i);
    const Matrix<double> Kb = K(bulk, Eigen::all);
    const double around_mean = std::abs(p.beta) * Q(bulk, Eigen::all).rowwise().norm().maxCoeff() *
                               (Kb.rowwise() - Kb.colwise().mean()).rowwise().norm().maxCoeff();
    const auto truth = make_algorithm("exact-reference")->compute(p);
    for (const std::string spec :
         {"poly-hybrid:outliers=8,recentre=true", "poly-hybrid:outliers=8,degree=24,recentre=true"}) {
      const auto got = make_algorithm(spec)->compute(p);
      const ErrorMetrics e = compare_gradients(got, truth);
      INFO(spec << " " << to_string(mode) << ": T_used " << got.info.at("T_used") << ", T_bulk "
                << got.info.at("T_bulk") << ", bulk around its mean " << around_mean << ", max_rel " << e.max_rel);
      REQUIRE(got.info.at("outlier_keys") == 8);
      CHECK(got.info.at("T_bulk") <= around_mean * (1 + 1e-12));
      CHECK(got.info.at("T_bulk") < got.info.at("T_used") / 4);
      if (spec.find("degree") != std::string::npos) {
        CHECK(e.max_rel <= 1e-11);
      } else {
        REQUIRE(got.info.count("error_bound"));
        CHECK(e.max_abs <= got.info.at("error_bound"));
      }
    }
  }
}

TEST_CASE("poly-hybrid's automatic choice weighs the exact pairs against the rank", "[poly][hybrid]") {
  // Gaussian scores spread evenly over [-T, T]: few outliers buy little range.
  // llm: the choice takes some and predicts fewer flops than plain poly.
  auto g = test::config(2048, 8, 4, Adaptation::Partial, 1.0, 3);
  g.score_bound = 1.0;
  const auto gaussian = make_algorithm("poly-hybrid")->compute(generate<float>(g));
  CHECK(gaussian.info.at("predicted_flops") <= gaussian.info.at("predicted_flops_without"));
  const auto heavy = make_algorithm("poly-hybrid")->compute(generate<float>(llm(2048, Adaptation::Partial, 20.0)));
  CHECK(heavy.info.at("outlier_queries") + heavy.info.at("outlier_keys") > 0);
  CHECK(heavy.info.at("predicted_flops") < 0.5 * heavy.info.at("predicted_flops_without"));
  // outliers = 0 is poly-cheb itself (up to the order of the threads' sums).
  const Problem<double> p = generate<double>(llm(500, Adaptation::Full, 5.0));
  const auto plain = make_algorithm("poly-cheb")->compute(p), none = make_algorithm("poly-hybrid:outliers=0")->compute(p);
  CHECK(compare_gradients(none, plain).max_rel <= registration("poly-cheb").accuracy.tolerance(sizeof(double)));
  CHECK(none.info.at("outlier_queries") == 0);
}

// The choice predicts the degree from the leading term of the certificate; it
// must track the certified degree, or the cost model compares the wrong ranks.
TEST_CASE("the predicted degree is the certified one within one", "[poly][hybrid]") {
  for (PolynomialKind kind : {PolynomialKind::Chebyshev, PolynomialKind::Taylor})
    for (double eps : {1e-2, 1e-3, 1e-6})
      for (double T : {0.1, 0.5, 1.0, 2.0, 4.0, 8.0}) {
        const int certified = certified_exp_polynomial(kind, eps, -1, T).degree;
        const int predicted = detail::predicted_degree(kind, eps, T);
        INFO(to_string(kind) << " eps " << eps << " T " << T << ": certified " << certified << ", predicted " << predicted);
        CHECK(std::abs(certified - predicted) <= 1);
      }
}

TEST_CASE("poly-hybrid refuses a bad outlier count naming the option", "[poly][hybrid]") {
  for (const std::string spec : {"poly-hybrid:outliers=-2", "poly-hybrid:outliers=x", "poly-hybrid:outliers=1.5"})
    CHECK_THROWS_WITH(make_algorithm(spec), Catch::Contains("outliers"));
}
