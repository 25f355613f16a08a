// calibrate_algorithm and the calibrated prediction (cost_model.hpp).
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/options.hpp>
#include <lorafgc/core/timing.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/poly/monomial_features.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>

namespace lorafgc::lora {

namespace {

using Clock = std::chrono::steady_clock;

using Sample = CalibrationSample;

template <class T>
Sample time_on(const Algorithm& a, const ProblemShape& base, long long L, const MachineRates& rates) {
  GeneratorConfig g;
  g.length = L;
  g.width = base.width;
  g.rank = base.rank;
  g.adaptation = base.adapted[index(Projection::K)] ? Adaptation::Full : Adaptation::Partial;
  g.score_bound = 1.0;
  g.seed = 7;
  // A calibration that would take long (a very wide head) is refused, not run.
  ProblemShape planned = base;
  planned.length = L;
  const double limit = predicted_seconds(a.cost(planned, sizeof(T)), rates);
  if (!(limit < 1.0))
    throw InvalidArgument("calibration", a.spec() + " at L = " + std::to_string(L) + ", d = " +
                                             std::to_string(base.width) + " is predicted to take " +
                                             std::to_string(limit) + " s per call (limit 1 s)");
  const Problem<T> p = generate<T>(g);
  a.compute(p);  // warm-up: caches, the polynomial's certificate, first-touch pages
  // The median of at least 3 runs and 50 ms: a calibration shape of 0.2 ms timed
  // 3 times is the VM's noise, not the code.
  Sample s;
  s.seconds = time_repetitions(3, std::numeric_limits<double>::infinity(), [&] { a.compute(p); }, 0.05).median;
  ProblemShape shape = shape_of(p, false);
  s.limit = predicted_seconds(a.cost(shape, sizeof(T)), rates);
  s.rows = static_cast<double>(L);
  return s;
}

}  // namespace

AlgorithmCalibration fit_calibration(const std::vector<CalibrationSample>& samples) {
  if (samples.empty()) throw InvalidArgument("samples", "no calibration samples");
  std::array<bool, 3> use{true, true, true};
  Eigen::VectorXd x;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<int> cols;
    for (int j = 0; j < 3; ++j)
      if (use[j]) cols.push_back(j);
    Eigen::MatrixXd A(samples.size(), cols.size());
    Eigen::VectorXd b(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const double row[3] = {samples[i].limit, 1.0, samples[i].rows};
      for (std::size_t c = 0; c < cols.size(); ++c) A(i, c) = row[cols[c]] / samples[i].seconds;  // relative
      b(i) = 1.0;
    }
    const Eigen::VectorXd y = A.colPivHouseholderQr().solve(b);
    x = Eigen::VectorXd::Zero(3);
    for (std::size_t c = 0; c < cols.size(); ++c) x(cols[c]) = y(c);
    int worst = -1;
    for (int j = 1; j < 3; ++j)
      if (x(j) < 0 && (worst < 0 || x(j) < x(worst))) worst = j;
    if (worst < 0) break;
    use[worst] = false;
  }
  AlgorithmCalibration c;
  c.efficiency = x(0) > 0 ? 1.0 / x(0) : 1.0;
  c.seconds_per_call = std::max(0.0, x(1));
  c.seconds_per_row = std::max(0.0, x(2));
  return c;
}

namespace {

template <class T>
AlgorithmCalibration calibrate(const std::string& spec, const ProblemShape& base, const MachineRates& rates) {
  const AlgorithmSpec parsed = parse_algorithm_spec(spec);
  const Registration& r = registration(parsed.name);
  const bool has_degree =
      std::any_of(r.options.begin(), r.options.end(), [](const OptionSpec& o) { return o.name == "degree"; });
  // Least squares over more shapes than constants, spread over the lengths
  // where crossings are measured, so that no one noisy shape sets a constant.
  std::vector<Sample> samples;
  if (!has_degree) {
    const auto a = make_algorithm(spec);
    for (long long L : {256LL, 512LL, 1024LL, 2048LL, 4096LL}) samples.push_back(time_on<T>(*a, base, L, rates));
  } else {
    auto with_degree = [&](int g) {
      Options o = parsed.options;
      o.set("degree", std::to_string(g));
      return make_algorithm(parsed.name, o);
    };
    // Degrees whose rank reaches 100 and 500 (at most 20: a head of width 1 has rank g + 1).
    auto degree_of_rank = [&](long long rank) {
      int g = 1;
      while (g < 20 && monomial_rank(base.width, g) < rank) ++g;
      return g;
    };
    const int mid = degree_of_rank(100), big = degree_of_rank(500);
    for (long long L : {512LL, 2048LL, 8192LL}) samples.push_back(time_on<T>(*with_degree(1), base, L, rates));
    for (long long L : {512LL, 8192LL}) samples.push_back(time_on<T>(*with_degree(mid), base, L, rates));
    for (long long L : {2048LL, 8192LL}) samples.push_back(time_on<T>(*with_degree(big), base, L, rates));
  }
  return fit_calibration(samples);
}

}  // namespace

AlgorithmCalibration calibrate_algorithm(const std::string& spec, const ProblemShape& shape, int scalar_bytes,
                                         const MachineRates& rates) {
  if (scalar_bytes != 4 && scalar_bytes != 8) throw InvalidArgument("scalar_bytes", "expected 4 or 8");
  const auto t0 = Clock::now();
  AlgorithmCalibration c = scalar_bytes == 4 ? calibrate<float>(spec, shape, rates) : calibrate<double>(spec, shape, rates);
  c.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return c;
}

double predicted_seconds(const Cost& cost, const MachineRates& rates, const AlgorithmCalibration& c) {
  return predicted_seconds(cost, rates) / c.efficiency + c.seconds_per_call + c.seconds_per_row * cost.rows;
}

}  // namespace lorafgc::lora
