// `exact` against the oracle `exact-reference`.
//
// Tolerances. Both algorithms evaluate the same formulas in a different order
// (panels, contracted products), so they differ by rounding only. Each gradient
// entry is a sum of O(L) products, so the forward error of either is bounded by
// about c L u (||.|| products) with u = 1.1e-16 (double) or 6e-8 (float); for
// L <= 300 and well-scaled instances (gamma ~ 1) that is < 1e-13 relative to
// ||G||_max in double and < 2e-5 in float. The 1e-12 (double) and 1e-4
// (float) therefore hold with a margin of ~10x, and a formula error (a missing
// delta term, a wrong transpose) shows up at order 1.
#include "lora_support.hpp"

#include <catch2/catch.hpp>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

template <class T>
ErrorMetrics exact_vs_reference(const Problem<T>& p, const std::string& spec) {
  const auto ref = make_algorithm("exact-reference")->compute(p);
  const auto got = make_algorithm(spec)->compute(p);
  const ErrorMetrics e = compare_gradients(got, ref);
  INFO(spec << ": max_rel=" << e.max_rel << " loss_abs=" << e.loss_abs);
  CHECK(std::abs(got.loss - ref.loss) <= 1e-12 * std::abs(ref.loss) * (sizeof(T) == 4 ? 1e8 : 1));
  return e;
}

}  // namespace

TEST_CASE("exact matches exact-reference in double to 1e-12", "[exact]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full})
    for (long long L : {1LL, 2LL, 37LL, 300LL})
      for (long long d : {4LL, 16LL}) {
        auto cfg = test::config(L, d, 3, mode);
        cfg.batch = L == 37 ? 3 : 1;
        const auto p = generate<double>(cfg);
        INFO(to_string(mode) << " L=" << L << " d=" << d);
        // block=8 puts a partial panel at the end of every L here but L = 1, 2.
        CHECK(exact_vs_reference(p, "exact:block=8").max_rel <= 1e-12);
        CHECK(exact_vs_reference(p, "exact").max_rel <= 1e-12);
        // Tiles of 16 keys: several online-softmax rescalings per row.
        CHECK(exact_vs_reference(p, "exact:schedule=stream,block=8,tile=16").max_rel <= 1e-12);
      }
}

TEST_CASE("exact matches exact-reference in float to 1e-4", "[exact]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full})
    for (long long L : {3LL, 64LL, 300LL}) {
      const auto p = generate<float>(test::config(L, 32, 8, mode));
      INFO(to_string(mode) << " L=" << L);
      CHECK(exact_vs_reference(p, "exact:block=16").max_rel <= 1e-4);
      CHECK(exact_vs_reference(p, "exact:schedule=stream,tile=32").max_rel <= 1e-4);
      // And against the double-precision oracle on the same (float) data: the
      // float result itself is accurate, not merely consistent.
      const auto truth = make_algorithm("exact-reference")->compute(to_float64(p));
      CHECK(compare_gradients(make_algorithm("exact")->compute(p), truth).max_rel <= 1e-4);
    }
}

TEST_CASE("full weight gradients agree and imply the adapter gradients", "[exact]") {
  const auto p = generate<double>(test::config(50, 8, 2, Adaptation::Full));
  const auto ref = make_algorithm("exact-reference:weights=true")->compute(p);
  const auto got = make_algorithm("exact:weights=true,block=16")->compute(p);
  const auto streamed = make_algorithm("exact:weights=true,schedule=stream,tile=8")->compute(p);
  CHECK(compare_gradients(streamed, ref).max_rel <= 1e-12);
  const auto plain = make_algorithm("exact")->compute(p);
  for (Projection k : kProjections) {
    REQUIRE(got.weight[index(k)]);
    const double scale = ref.weight[index(k)]->cwiseAbs().maxCoeff();
    CHECK((*got.weight[index(k)] - *ref.weight[index(k)]).cwiseAbs().maxCoeff() <= 1e-12 * scale);
  }
  CHECK(compare_gradients(got, ref).max_rel <= 1e-12);
  CHECK(compare_gradients(plain, ref).max_rel <= 1e-12);
  CHECK_FALSE(plain.weight[index(Projection::Q)]);
}

TEST_CASE("any subset of adapted weights", "[exact]") {
  const std::vector<std::array<bool, 3>> subsets = {
      {true, false, false}, {false, true, false}, {false, false, true}, {true, true, false}, {false, true, true}};
  for (const auto& subset : subsets) {
    auto p = generate<double>(test::config(40, 6, 2, Adaptation::Full));
    for (Projection k : kProjections)
      if (!subset[index(k)]) p.adapter[index(k)].reset();
    CHECK(exact_vs_reference(p, "exact:block=7").max_rel <= 1e-12);
    CHECK(exact_vs_reference(p, "exact:block=7,schedule=stream,tile=9").max_rel <= 1e-12);
  }
}

// Scores of 1e4: softmax must subtract the row maximum. The gradient is then
// conditioned by max|S|: an absolute error u d max|Q_i||K_j| in a score is a
// relative error in F, so exact and reference can differ by ~u max|S| d:
// 1.1e-16 * 1e4 * 16 = 2e-11 in double, 6e-8 * 1e4 * 16 = 1e-2 in float. We
// allow 1e-9 and 5e-2: the test is that results are finite and agree, not NaN.
TEST_CASE("scores as large as 1e4 stay finite and equal the reference", "[exact]") {
  auto cfg = test::config(200, 16, 4, Adaptation::Full, 1.0, 3);
  const auto base = generate<double>(cfg);
  double smax = 0;
  for (const auto& x : base.X)
    smax = std::max(smax, ((x * base.effective_weight(Projection::Q)) *
                           (x * base.effective_weight(Projection::K)).transpose())
                              .cwiseAbs()
                              .maxCoeff());
  cfg.beta = 1e4 / smax;
  const auto pd = generate<double>(cfg);
  const auto pf = generate<float>(cfg);
  CHECK(exact_vs_reference(pd, "exact:block=32").max_rel <= 1e-9);
  // The online softmax rescales by exp(m_old - m_new) with gaps of order 1e4.
  CHECK(exact_vs_reference(pd, "exact:schedule=stream,tile=16").max_rel <= 1e-9);
  const auto gf = make_algorithm("exact")->compute(pf);
  CHECK(std::isfinite(gf.loss));
  CHECK(compare_gradients(gf, make_algorithm("exact-reference")->compute(pf)).max_rel <= 5e-2);
}

TEST_CASE("batch loss and gradients are the mean over the batch", "[exact]") {
  auto cfg = test::config(30, 5, 2, Adaptation::Full);
  cfg.batch = 3;
  const auto p = generate<double>(cfg);
  for (const std::string spec : {"exact", "exact-reference"}) {
    const auto all = make_algorithm(spec)->compute(p);
    double loss = 0;
    Matrix<double> dAq = Matrix<double>::Zero(2, 5), dBk = Matrix<double>::Zero(5, 2);
    for (int b = 0; b < 3; ++b) {
      Problem<double> one = p;
      one.X = {p.X[b]};
      one.Y = {p.Y[b]};
      const auto g = make_algorithm(spec)->compute(one);
      loss += g.loss / 3;
      dAq += g.adapter[index(Projection::Q)]->dA / 3;
      dBk += g.adapter[index(Projection::K)]->dB / 3;
    }
    CHECK(all.loss == Approx(loss).epsilon(1e-13));
    CHECK((all.adapter[index(Projection::Q)]->dA - dAq).cwiseAbs().maxCoeff() <= 1e-13 * dAq.cwiseAbs().maxCoeff());
    CHECK((all.adapter[index(Projection::K)]->dB - dBk).cwiseAbs().maxCoeff() <= 1e-13 * dBk.cwiseAbs().maxCoeff());
  }
}

// Threads change only the order of the final reduction over panels: one
// rounding per panel partial sum, far below 1e-13 relative.
TEST_CASE("results do not depend on the thread count beyond rounding", "[exact]") {
  const auto p = generate<double>(test::config(333, 16, 4, Adaptation::Full));
  const auto one = make_algorithm("exact:threads=1,block=16")->compute(p);
  for (const std::string schedule : {"panel", "stream"})
    for (int t : {2, 3, 4}) {
      const auto many =
          make_algorithm("exact:block=16,schedule=" + schedule + ",threads=" + std::to_string(t))->compute(p);
      INFO(schedule << " threads=" << t);
      CHECK(compare_gradients(many, one).max_rel <= 1e-13);
      CHECK(many.loss == Approx(one.loss).epsilon(1e-14));
    }
}
