#include "lora_support.hpp"

#include <lorafgc/lora/score_range.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>

using namespace lorafgc;
using namespace lorafgc::lora;

TEST_CASE("generated instances hit the norm bound gamma within 1%", "[generator]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full})
    for (double gamma : {0.05, 1.0, 3.7})
      for (long long batch : {1LL, 3LL}) {
        auto cfg = test::config(100, 12, 3, mode, gamma, 5);
        cfg.batch = batch;
        const auto pd = generate<double>(cfg);
        const auto pf = generate<float>(cfg);
        for (Projection k : kProjections) {
          INFO(to_string(mode) << " gamma=" << gamma << " " << key(k));
          CHECK(std::abs(projection_max_abs(pd, k) / gamma - 1) <= 0.01);
          CHECK(std::abs(projection_max_abs(pf, k) / gamma - 1) <= 0.01);
        }
        CHECK(pd.adapted(Projection::K) == (mode == Adaptation::Full));
        CHECK(pd.batch() == batch);
      }
}

TEST_CASE("the LoRA share of each adapted weight is as requested", "[generator]") {
  for (double share : {0.0, 0.1, 0.5, 0.9}) {
    auto cfg = test::config(20, 8, 2, Adaptation::Full);
    cfg.lora_share = share;
    const auto p = generate<double>(cfg);
    for (Projection k : kProjections) {
      const auto& a = *p.adapter[index(k)];
      const double lora = (p.scale() * a.B * a.A).norm();
      const double frozen = p.W[index(k)].norm();
      CHECK(lora / (lora + frozen) == Approx(share).margin(1e-12));
    }
  }
}

TEST_CASE("the generator is deterministic in its seed and float equals rounded double", "[generator]") {
  const auto cfg = test::config(30, 4, 2, Adaptation::Partial);
  const auto a = generate<double>(cfg), b = generate<double>(cfg);
  CHECK(a.X[0] == b.X[0]);
  CHECK(a.adapter[index(Projection::Q)]->A == b.adapter[index(Projection::Q)]->A);
  auto other = cfg;
  other.seed += 1;
  CHECK(generate<double>(other).X[0] != a.X[0]);
  CHECK(generate<float>(cfg).X[0] == a.X[0].cast<float>());
}

namespace {

// S = beta Q K^T of the first sequence, in double.
Matrix<double> scores_of(const Problem<double>& p) {
  const Matrix<double> Q = p.X[0] * p.effective_weight(Projection::Q);
  const Matrix<double> K = p.X[0] * p.effective_weight(Projection::K);
  return p.beta * Q * K.transpose();
}

// The share of score pairs with |S_ij| >= fraction max |S|.
double share_near_the_ends(const Matrix<double>& S, double fraction) {
  const double m = S.cwiseAbs().maxCoeff();
  return static_cast<double>((S.cwiseAbs().array() >= fraction * m).count()) / static_cast<double>(S.size());
}

void require_named(const GeneratorConfig& c, const std::string& argument) {
  INFO("should be refused naming " << argument);
  try {
    generate<double>(c);
    FAIL("accepted");
  } catch (const InvalidArgument& e) {
    CHECK(e.argument() == argument);
  }
}

}  // namespace

TEST_CASE("instance families: gaussian is the default, every family is seeded and hits gamma", "[generator]") {
  auto c = test::config(300, 12, 3, Adaptation::Full, 0.8, 21);
  const auto before = generate<double>(c);
  c.family = parse_family("gaussian");
  CHECK(generate<double>(c).X[0] == before.X[0]);
  for (const std::string name : {"llm", "adversarial"}) {
    c.family = parse_family(name);
    CHECK(family_name(c.family) == name);
    const auto a = generate<double>(c), b = generate<double>(c);
    INFO(name);
    CHECK(a.X[0] == b.X[0]);
    CHECK(a.X[0] != before.X[0]);
    for (Projection k : kProjections) CHECK(std::abs(projection_max_abs(a, k) / 0.8 - 1) <= 1e-12);
  }
}

TEST_CASE("llm instances: a shared key component, outlier channels, a decaying spectrum", "[generator]") {
  auto c = test::config(4096, 16, 4, Adaptation::Partial, 1.0, 5);
  c.family = InstanceFamily::Llm;
  const auto p = generate<double>(c);
  // Centring takes the shared component out of the score range (the phase
  // boundary issue's target on such instances is T_used <= 0.5 T_cauchy_schwarz).
  const ScoreRange r = certified_score_range(p);
  CHECK(r.T_used <= 0.5 * r.T_cauchy_schwarz);
  // The outlier channels: Student-t(3) entries at 8x the RMS entry. Their column
  // RMS is 8 rms sqrt(mean t^2), and mean t^2 over 4096 draws is far above 1/4
  // (P(|t| > 1) = 0.39 alone gives 0.39), so they stand 4x above the others,
  // which (a random basis mixes the decaying spectrum) sit near the RMS entry.
  const Matrix<double> centred = p.X[0].rowwise() - p.X[0].colwise().mean();
  Vector<double> column_rms = centred.colwise().norm() / std::sqrt(4096.0);
  std::vector<double> sorted(column_rms.data(), column_rms.data() + column_rms.size());
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  CHECK((column_rms.array() > 4 * median).count() == c.llm.outlier_channels);
  // A steeper spectrum puts more of the (outlier-free) energy in the top direction.
  auto top_share = [&](double decay) {
    auto g = c;
    g.llm = {0.0, 0, 8.0, decay};
    const auto q = generate<double>(g);
    const Matrix<double> x = q.X[0].rowwise() - q.X[0].colwise().mean();
    const Vector<double> s = Eigen::JacobiSVD<Matrix<double>>(x).singularValues();
    return s(0) * s(0) / s.squaredNorm();
  };
  CHECK(top_share(0.0) < 0.15);  // flat: about 1/16 each
  CHECK(top_share(2.0) > 0.5);   // 1 / sum_k (k + 1)^-4 = 0.92 of it
}

TEST_CASE("adversarial instances put the scores at the ends of their range", "[generator]") {
  auto c = test::config(512, 8, 2, Adaptation::Partial, 1.0, 3);
  const auto gaussian = generate<double>(c);
  c.family = InstanceFamily::Adversarial;
  const auto p = generate<double>(c);
  // Tokens +-u (noise 0.05, u the direction W_q stretches most) and W_k* = W_q*:
  // S_ij = s_i s_j u^T W_q W_k^T u, moved by the noise of q_i and of k_j, about
  // 5% each (3 sigma: 15% each way), so every pair is within ~30% of max|S|.
  CHECK(share_near_the_ends(scores_of(p), 0.8) > 0.9);
  CHECK(share_near_the_ends(scores_of(gaussian), 0.8) < 0.01);
  const ScoreRange r = certified_score_range(p);
  CHECK(r.T_used >= 0.8 * r.T_cauchy_schwarz);
}

TEST_CASE("family parameters out of range are refused naming them", "[generator][errors]") {
  CHECK_THROWS_WITH(parse_family("lm"), Catch::Contains("known: gaussian, llm, adversarial"));
  try {
    parse_family("");
    FAIL("accepted");
  } catch (const InvalidArgument& e) {
    CHECK(e.argument() == "family");
  }
  auto c = test::config(64, 8, 2, Adaptation::Partial);
  c.family = InstanceFamily::Llm;
  for (long long n : {-1LL, 9LL}) {
    auto bad = c;
    bad.llm.outlier_channels = n;
    require_named(bad, "outlier_channels");
  }
  for (double v : {0.0, -1.0, std::numeric_limits<double>::infinity()}) {
    auto bad = c;
    bad.llm.outlier_scale = v;
    require_named(bad, "outlier_scale");
  }
  auto bad = c;
  bad.llm.key_share = std::numeric_limits<double>::quiet_NaN();
  require_named(bad, "key_share");
  bad = c;
  bad.llm.spectrum_decay = -0.5;
  require_named(bad, "spectrum_decay");
  bad = c;
  bad.family = InstanceFamily::Adversarial;
  bad.adversarial_noise = -0.1;
  require_named(bad, "adversarial_noise");
  // Another family's parameters are not its business.
  bad.family = InstanceFamily::Gaussian;
  CHECK_NOTHROW(generate<double>(bad));
}
