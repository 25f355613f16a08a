// Cost floors (Algorithm::cost_floors, lora/poly/range_floor.hpp): lower bounds
// on the instance cost that let auto's plan skip candidates which cannot win.
// They must never exceed what the plan would cost, and skipping must never
// change the choice.
#include "lora_support.hpp"

#include <lorafgc/lora/auto_plan.hpp>
#include <lorafgc/lora/plan_memo.hpp>
#include <lorafgc/lora/score_range.hpp>

#include "lora/auto_select/calibration_cache.hpp"
#include "lora/common/certified_range.hpp"
#include "lora/common/thin_factors.hpp"
#include "lora/poly/bulk_range.hpp"
#include "lora/poly/exp_polynomial.hpp"
#include "lora/poly/outlier_rows.hpp"
#include "lora/poly/range_floor.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

GeneratorConfig instance(long long L, double T, InstanceFamily family, Adaptation mode, long long batch) {
  auto c = test::config(L, 8, 4, mode, 1.0, 11);
  c.score_bound = T;
  c.family = family;
  c.batch = batch;
  return c;
}

// Some floor is at most the cost in every component the prediction reads.
bool below_some(const std::vector<Cost>& floors, const Cost& cost) {
  const auto le = [](double a, double b) { return a <= b * (1 + 1e-12); };
  return std::any_of(floors.begin(), floors.end(), [&](const Cost& f) {
    return le(f.flops, cost.flops) && le(f.exps, cost.exps) && le(f.bytes, cost.bytes) &&
           le(f.gathered_flops, cost.gathered_flops) && f.rows == cost.rows;
  });
}

template <class T>
void check_floors(const Problem<T>& p) {
  const ProblemShape shape = shape_of(p);
  for (const char* spec : {"poly-cheb", "poly-taylor", "poly-hybrid", "poly-hybrid:outliers=16",
                           "poly-hybrid:outliers=0", "poly-cheb:centre=false", "poly-hybrid:range_rows=0", "poly-taylor:eps=1e-6",
                           "poly-hybrid:degree=3", "poly-hybrid:centre=false", "poly-hybrid:recentre=true",
                           "poly-hybrid:recentre=true,outliers=16"}) {
    INFO(spec);
    const auto a = make_algorithm(spec);
    Cost cost;
    try {
      cost = a->instance_cost(p, shape);
    } catch (const InvalidArgument&) {  // out of reach: the plan records why, whatever the floor
      continue;
    }
    const std::vector<Cost> floors = a->cost_floors(p, shape);
    INFO("cost flops " << cost.flops << " exps " << cost.exps << " bytes " << cost.bytes << " gathered "
                       << cost.gathered_flops << "; floors' flops: " << [&] {
                            std::string text;
                            for (const Cost& f : floors)
                              text += std::to_string(f.flops) + "/" + std::to_string(f.exps) + "/" +
                                      std::to_string(f.bytes) + "/" + std::to_string(f.gathered_flops) + " ";
                            return text;
                          }());
    CHECK(below_some(floors, cost));
  }
}

}  // namespace

TEST_CASE("the cost floors never exceed the instance cost", "[auto][floor]") {
  for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
    for (double T : {0.25, 1.0, 4.0, 12.0})
      for (long long L : {40LL, 700LL, 2048LL}) {
        INFO(family_name(family) << " T_cs = " << T << " L = " << L);
        check_floors(generate<float>(instance(L, T, family, Adaptation::Partial, 1)));
        if (L == 700) {
          check_floors(generate<double>(instance(L, T, family, Adaptation::Full, 1)));
          check_floors(generate<float>(instance(L, T, family, Adaptation::Partial, 2)));
        }
      }
}

// poly-hybrid re-centres the keys on its bulk: with a few keys far along one
// direction the bulk is far narrower than the norms around the data's centre
// (test_poly_hybrid.cpp), and the floors must still lie below its cost. With a
// large common key component the floor's margin is a few roundings of the
// centred keys, so it holds only if the plan centres the very keys the floor
// read (bulk_range.hpp).
TEST_CASE("the cost floors stay below poly-hybrid's re-centred bulk", "[auto][floor]") {
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full})
    for (double factor : {3.0, 10.0})
      for (double common : {0.0, 1000.0}) {
        INFO(to_string(mode) << " rows pushed " << factor << "x out, common key component " << common);
        Problem<float> p = generate<float>(instance(700, 4.0, InstanceFamily::Gaussian, mode, 2));
        test::push_rows_far(p, {3, 50, 51, 120, 200, 301, 302, 399, 650}, factor);
        if (common > 0) add_common_key_component(p, common);
        check_floors(p);
      }
}

// auto's plan leaves poly-hybrid's plain case (no outliers) to poly-cheb's row
// (Registration::plain_form): that case must cost what poly-cheb costs, and
// the floors past the first must bound every case with outliers, before the
// certified range is in the plan memo and after (when pairs whose bulk bound
// reaches it count as plain).
TEST_CASE("poly-hybrid's plain case is poly-cheb, and its other floors bound every case with outliers",
          "[auto][floor]") {
  CHECK(registration("poly-hybrid").plain_form == "poly-cheb");
  const auto cheb = make_algorithm("poly-cheb"), hybrid = make_algorithm("poly-hybrid");
  int with_outliers = 0;
  const auto check = [&](const Problem<float>& p) {
    const ProblemShape shape = shape_of(p);
    const PlanMemoScope memo(&p);
    const std::vector<Cost> before = hybrid->cost_floors(p, shape);
    Cost plain;
    try {
      plain = cheb->instance_cost(p, shape);  // stores the certified range in the memo
    } catch (const InvalidArgument&) {
      return;
    }
    const std::vector<Cost> after = hybrid->cost_floors(p, shape);
    const Cost cost = hybrid->instance_cost(p, shape);
    REQUIRE(!before.empty());
    REQUIRE(!after.empty());
    if (cost.gathered_flops > 0) {
      ++with_outliers;
      CHECK(below_some({before.begin() + 1, before.end()}, cost));
      CHECK(below_some({after.begin() + 1, after.end()}, cost));
    } else {
      CHECK(cost.flops == plain.flops);
      CHECK(cost.exps == plain.exps);
      CHECK(cost.bytes == plain.bytes);
      CHECK(below_some({before.front()}, cost));
    }
  };
  for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
    for (double T : {0.25, 1.0, 4.0, 12.0})
      for (long long L : {40LL, 700LL, 2048LL}) {
        INFO(family_name(family) << " T_cs = " << T << " L = " << L);
        check(generate<float>(instance(L, T, family, Adaptation::Partial, 1)));
        if (L == 700) check(generate<float>(instance(L, T, family, Adaptation::Partial, 2)));
      }
  for (double factor : {3.0, 10.0}) {
    INFO("rows pushed " << factor << "x out");
    Problem<float> p = generate<float>(instance(700, 4.0, InstanceFamily::Gaussian, Adaptation::Partial, 2));
    test::push_rows_far(p, {3, 50, 51, 120, 200, 301, 302, 399, 650}, factor);
    check(p);
  }
  CHECK(with_outliers > 0);  // the case the floors past the first are for was reached
}

// Once the certified range is known, poly-hybrid's floors may say that its run
// takes no outliers (outliers_never_pay: choose_outliers' rule on the norm
// buckets), leaving only the plain case; auto then does not rank its rows.
// Where they say so the run must take none, and they must say so where the
// ranking was wasted (adversarial, T = 1, d = 4: the rows' norms are alike).
TEST_CASE("poly-hybrid's floors leave only the plain case where its run takes no outliers", "[auto][floor]") {
  const auto cheb = make_algorithm("poly-cheb"), hybrid = make_algorithm("poly-hybrid");
  int plain_only = 0, with_outliers = 0;
  const auto check = [&](const Problem<float>& p) {
    const ProblemShape shape = shape_of(p);
    const PlanMemoScope memo(&p);
    try {
      cheb->instance_cost(p, shape);  // stores the certified range in the memo
    } catch (const InvalidArgument&) {
      return;
    }
    const std::vector<Cost> floors = hybrid->cost_floors(p, shape);
    const Cost cost = hybrid->instance_cost(p, shape);
    with_outliers += cost.gathered_flops > 0;
    if (floors.size() == 1) {
      ++plain_only;
      CHECK(cost.gathered_flops == 0);
    }
  };
  for (long long d : {4LL, 8LL})
    for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
      for (double T : {0.25, 1.0, 4.0, 12.0})
        for (long long L : {700LL, 2048LL}) {
          INFO("d = " << d << " " << family_name(family) << " T_cs = " << T << " L = " << L);
          GeneratorConfig c = instance(L, T, family, Adaptation::Partial, L == 700 ? 2 : 1);
          c.width = d;
          check(generate<float>(c));
        }
  for (double factor : {1.5, 3.0, 10.0}) {
    INFO("rows pushed " << factor << "x out");
    Problem<float> p = generate<float>(instance(2048, 1.0, InstanceFamily::Adversarial, Adaptation::Partial, 1));
    test::push_rows_far(p, {3, 50, 51, 120, 200, 301, 302, 399, 650, 1500, 2000}, factor);
    check(p);
  }
  CHECK(plain_only > 0);
  CHECK(with_outliers > 0);
  // The instance that showed the waste (auto's plan there 175 -> 95 us in Python, Zen 5).
  GeneratorConfig c = instance(2048, 1.0, InstanceFamily::Adversarial, Adaptation::Partial, 1);
  c.width = 4;
  const Problem<float> p = generate<float>(c);
  const PlanMemoScope memo(&p);
  cheb->instance_cost(p, shape_of(p));
  CHECK(hybrid->cost_floors(p, shape_of(p)).size() == 1);
}

// The key floor reads order statistics through bin edges: never above half the
// spread between the (m+1)-th largest and smallest entry of any column (the
// floor the proof needs), and within 2 bins (of 1024 over the column's span)
// and K's rounding allowance of the widest such half-spread (2.5 bins: the 2 of the
// derivation are reached at m = 0, the half bin covers the rounding of the bin index). Columns with ties, heavy tails, a large
// common offset, a single value, and counts up to all rows.
TEMPLATE_TEST_CASE("the bulk key floor lies within a few bins below the order statistics", "[floor]", float,
                   double) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::cauchy_distribution<double> cauchy;
  const Eigen::Index n = 3000, d = 4;
  Matrix<TestType> K(n, d);
  for (Eigen::Index j = 0; j < n; ++j) {
    K(j, 0) = static_cast<TestType>(normal(rng));
    K(j, 1) = static_cast<TestType>(std::clamp(cauchy(rng), -1e4, 1e4));
    K(j, 2) = static_cast<TestType>(1000 + 0.01 * static_cast<double>(j % 50));  // ties, far from 0
    K(j, 3) = TestType(2);                                                        // one value
  }
  const std::vector<Eigen::Index> counts{0, 1, 7, 8, 100, 1499, 2999, 3000, 5000};
  const std::vector<double> floors = detail::bulk_key_radius_floor(K, counts);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const Eigen::Index m = counts[i];
    double widest = 0, slack = 0;
    for (Eigen::Index a = 0; a < d && m < n; ++a) {
      std::vector<double> v(K.col(a).data(), K.col(a).data() + n);
      std::sort(v.begin(), v.end());
      const double half = (v[static_cast<std::size_t>(n - 1 - m)] - v[static_cast<std::size_t>(m)]) / 2;
      // Two bins of the span on each end, halved, plus half a bin; and the allowance for K's
      // rounding (4u of the column's reach) with the (1 - 4u) on the norms.
      const double u = std::numeric_limits<TestType>::epsilon(), reach = std::max(-v.front(), v.back());
      if (half > widest) widest = half, slack = 2.5 * (v.back() - v.front()) / 1024 + 4 * u * (reach + half);
    }
    INFO("m = " << m << " floor " << floors[i] << " widest half-spread " << widest);
    CHECK(floors[i] <= widest);
    CHECK(floors[i] >= widest - slack);
  }
}

// The pieces: the spread below the certified range, the bucket bounds below
// every order statistic of the norms.
TEMPLATE_TEST_CASE("the range floor lies below the certified range and the norms' order", "[auto][floor]", float,
                   double) {
  for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
    for (double T : {0.5, 3.0, 20.0}) {
      const auto p = generate<TestType>(instance(1500, T, family, Adaptation::Partial, 2));
      const auto W = detail::effective_weights(p);
      INFO(family_name(family) << " T_cs = " << T);
      for (bool centre : {true, false}) {
        const auto rows = detail::sequence_rows(p.X, W[0], W[1], centre);
        const double spread = detail::range_floor(rows, p.beta);
        const auto range = detail::certified_range(p.X, W[0], W[1], p.beta, {centre, 64});
        CHECK(spread <= range.T_used);
        // Tight enough to prune on: the longest rows on either side set the range.
        CHECK(spread >= 0.5 * range.T_used);
        for (std::size_t b = 0; b < p.X.size(); ++b) {
          const Matrix<TestType> Q = p.X[b] * W[0], K = p.X[b] * W[1];
          const Eigen::VectorXd c = centre ? detail::key_centre(K) : Eigen::VectorXd::Zero(8);
          const Matrix<TestType> Kc = K.rowwise() - c.cast<TestType>().transpose();
          for (const auto& [ranks, norms] :
               {std::pair{&rows[b].queries, detail::row_norms(Q)}, std::pair{&rows[b].keys, detail::row_norms(Kc)}}) {
            std::vector<double> sorted(norms.data(), norms.data() + norms.size());
            std::sort(sorted.begin(), sorted.end(), std::greater<>());
            for (Eigen::Index m : {0, 1, 7, 8, 100, 749, 1499, 1500}) {
              const double truth = m < 1500 ? sorted[static_cast<std::size_t>(m)] : 0.0;
              CHECK(ranks->at_least_at(m) <= truth);
              // One bucket below, at most (relative width 2^-7), or the last bucket's 0 (8 octaves down).
              if (truth > sorted[0] / 250) CHECK(ranks->at_least_at(m) >= truth * (1 - 1.0 / 128));
            }
          }
        }
      }
    }
}

// The degree floor reads the certified degree at a grid value below the
// range, which is a floor only if no wider interval needs a smaller degree.
TEST_CASE("the certified degree never falls as the range grows", "[auto][floor]") {
  for (PolynomialKind kind : {PolynomialKind::Chebyshev, PolynomialKind::Taylor})
    for (double eps : {1e-2, 1e-3, 1e-6})
      for (double w : {0.0, 1.0}) {  // with a beta sensitivity too (exp_polynomial.hpp), scores' rms 0.05
        int last = 0;
        bool reachable = true;
        for (int j = -384; j <= 256; ++j) {  // 2^-6 .. 2^4 on the floor's grid (the certification's)
          const double T = std::exp2(j / 64.0);
          INFO("eps = " << eps << " T = " << T << " beta_sensitivity = " << w);
          try {
            const int g = certified_exp_polynomial(kind, eps, -1, T, w, 0.05).degree;
            CHECK(reachable);
            CHECK(g >= last);
            last = g;
          } catch (const InvalidArgument&) {
            reachable = false;
          }
        }
      }
}

// Pruning only skips work: the plan chooses what costing every candidate on
// the instance would, and every skipped row's prediction is at least its floor.
TEST_CASE("pruning never changes auto's choice", "[auto][floor]") {
  AutoOptions o;
  o.calibrated = false;
  o.thrifty = false;
  const MachineRates rates = detail::cached_rates(4, 0);
  for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
    for (double T : {0.25, 0.5, 1.0, 2.0, 8.0})
      for (long long L : {256LL, 2048LL}) {
        const auto p = generate<float>(instance(L, T, family, Adaptation::Partial, 1));
        const ProblemShape shape = shape_of(p);
        INFO(family_name(family) << " T_cs = " << T << " L = " << L);
        const AutoPlan plan = plan_auto(p, o);
        double best_seconds = std::numeric_limits<double>::infinity();
        for (const PlanRow& r : plan.rows) {
          if (r.spec.empty()) continue;
          INFO(r.spec);
          double seconds = std::numeric_limits<double>::infinity();
          try {
            seconds = predicted_seconds(make_algorithm(r.spec)->instance_cost(p, shape), rates);
          } catch (const InvalidArgument&) {
            CHECK(r.at_least);  // costed, it would have been refused with the reason
          }
          if (r.at_least)
            CHECK(seconds >= r.predicted_seconds * (1 - 1e-12));
          else
            CHECK(seconds == Approx(r.predicted_seconds).epsilon(1e-12));
          best_seconds = std::min(best_seconds, seconds);
        }
        // The fastest prediction (of equals, whichever was costed first:
        // poly-hybrid without outliers is poly-cheb).
        REQUIRE(plan.chosen >= 0);
        CHECK(plan.rows[static_cast<std::size_t>(plan.chosen)].predicted_seconds ==
              Approx(best_seconds).epsilon(1e-12));
      }
}

// Thrifty planning also skips a candidate whose floor beats the best prediction
// by less than costing it took before: the choice then predicts at most that
// much more than the best.
TEST_CASE("thrifty planning gives up at most what costing would have cost", "[auto][floor]") {
  AutoOptions o;
  o.calibrated = false;
  const MachineRates rates = detail::cached_rates(4, 0);
  for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm})
    for (double T : {0.25, 0.5, 1.0, 2.0})
      for (long long L : {512LL, 2048LL}) {
        const auto p = generate<float>(instance(L, T, family, Adaptation::Partial, 1));
        const ProblemShape shape = shape_of(p);
        INFO(family_name(family) << " T_cs = " << T << " L = " << L);
        plan_auto(p, o);  // fills the caches (its costings are not used)
        plan_auto(p, o);  // learns what costing takes
        const AutoPlan plan = plan_auto(p, o);
        REQUIRE(plan.chosen >= 0);
        double best = std::numeric_limits<double>::infinity(), given_up = 0;
        for (const PlanRow& r : plan.rows) {
          if (r.spec.empty()) continue;
          try {
            best = std::min(best, predicted_seconds(make_algorithm(r.spec)->instance_cost(p, shape), rates));
          } catch (const InvalidArgument&) {
          }
          // The time the plan weighed, not the cache's entry for r.spec: a row whose
          // options read the instance's beta sensitivity is keyed by its spec before
          // that refinement (under ASan, poly-hybrid's 8 ms outlier search skipped it
          // while the refined spec's entry read 0).
          if (r.at_least) given_up = std::max(given_up, r.costing_seconds);
          // An unrefined row's weighed time is the cache's entry for its spec (not
          // costed in this plan, so not recorded since).
          if (r.at_least && r.spec.find("beta_sensitivity") == std::string::npos)
            CHECK(r.costing_seconds == detail::costing_seconds(detail::costing_key(r.spec, shape, 4)));
        }
        CHECK(plan.rows[static_cast<std::size_t>(plan.chosen)].predicted_seconds <= best + given_up + 1e-12);
      }
}

// What thrifty planning weighs against a candidate's gain: nothing until it
// was costed twice (the first fills the process's caches), then the least
// costing since, not the last (a slow one would have it skipped, and never
// measured again, where it is the fastest).
TEST_CASE("a costing record is the least costing after the first", "[auto][floor]") {
  const std::string key = "test-only spec|costing record";
  CHECK(detail::costing_seconds(key) == 0);
  detail::record_costing(key, 5e-3);
  CHECK(detail::costing_seconds(key) == 0);
  detail::record_costing(key, 2e-3);
  CHECK(detail::costing_seconds(key) == 2e-3);
  detail::record_costing(key, 4e-3);
  CHECK(detail::costing_seconds(key) == 2e-3);
  detail::record_costing(key, 1e-3);
  CHECK(detail::costing_seconds(key) == 1e-3);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Work that takes at least `seconds` however busy the machine is.
int busy(double seconds) {
  const auto start = std::chrono::steady_clock::now();
  int spins = 0;
  while (seconds_since(start) < seconds) ++spins;
  return spins;
}

}  // namespace

// poly's plan on an instance is kept in the plan memo for the run; its degree
// reads beta_sensitivity, so two specs that differ only there must not share
// one (auto's plan costs the Chebyshev rows with it, its floors without).
TEST_CASE("the plan memo keeps poly's plans apart by their beta sensitivity", "[auto][floor]") {
  auto c = test::config(2048, 4, 4, Adaptation::Partial, 1.0, 1);
  c.score_bound = 0.25;
  const Problem<float> p = generate<float>(c);  // an even plain degree that the temperature term raises
  const ProblemShape shape = shape_of(p);
  const auto plain = make_algorithm("poly-cheb:eps=1e-3"), with = make_algorithm("poly-cheb:eps=1e-3,beta_sensitivity=4");
  Cost alone;
  {
    const PlanMemoScope memo(&p);
    alone = with->instance_cost(p, shape);
  }
  const PlanMemoScope memo(&p);
  const Cost first = plain->instance_cost(p, shape), second = with->instance_cost(p, shape);
  CHECK(first.flops < alone.flops);
  CHECK(second.flops == alone.flops);
}

// Thrifty planning charges a candidate only its own costing: the shared
// entries' work (the rows, the certified range) is timed apart, a nested one
// once, and a hit costs nothing.
TEST_CASE("the plan memo times its shared work once", "[auto][floor]") {
  using detail::memo_get_or_shared;
  using detail::memo_shared_seconds;
  const int problem = 0;
  CHECK(memo_shared_seconds() == 0);
  CHECK(*memo_get_or_shared<int>(&problem, "outside", [] { return 7; }) == 7);  // computed, not kept
  CHECK(memo_shared_seconds() == 0);
  const PlanMemoScope scope(&problem);
  const auto start = std::chrono::steady_clock::now();
  const auto outer = memo_get_or_shared<int>(&problem, "outer", [&] {
    busy(1e-3);
    return *memo_get_or_shared<int>(&problem, "inner", [] { return busy(1e-3) >= 0 ? 2 : 0; }) + 1;
  });
  const double wall = seconds_since(start);
  CHECK(*outer == 3);
  const double shared = memo_shared_seconds();
  CHECK(shared >= 2e-3);
  CHECK(shared <= wall);  // the inner entry's time counted twice would exceed it
  CHECK(*memo_get_or_shared<int>(&problem, "outer", [] { return busy(1e-3); }) == 3);  // a hit
  CHECK(memo_shared_seconds() == shared);
}
