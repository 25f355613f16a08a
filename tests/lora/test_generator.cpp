#include "lora_support.hpp"

#include <catch2/catch.hpp>

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
