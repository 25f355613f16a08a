// The registrations' error models (error_models.hpp).
#include "lora/common/error_models.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace lorafgc::lora::detail {

namespace {

template <class... A>
std::string text(const char* format, A... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, format, args...);
  return buffer;
}

// The shortest text that reads back as v, with at least six digits (%g's).
// to_chars (shortest round trip) gives the digit count first: the search from
// six digits up was a fifth of a plan at L = 512, d = 4 (beta_sensitivity's
// powers of 2^(1/4) need 16 or 17), and now ends at its first try.
std::string shortest_text(double v) {
  char shortest[32];
  const auto end = std::to_chars(shortest, shortest + sizeof shortest, v, std::chars_format::scientific).ptr;
  const auto digits_end = std::find(shortest, end, 'e');
  const int shortest_digits =
      static_cast<int>(std::count_if(shortest, digits_end, [](char c) { return c >= '0' && c <= '9'; }));
  for (int digits = std::max(6, shortest_digits); digits < 17; ++digits) {
    const std::string t = text("%.*g", digits, v);
    if (std::strtod(t.c_str(), nullptr) == v) return t;
  }
  return text("%.17g", v);
}

// shortest_text, the last two per thread kept (a plan asks three times for the
// same target and beta sensitivity, and formatting the models' texts was a
// tenth of a plan at L = 512, d = 4).
std::string exact_text(double v) {
  thread_local std::pair<double, std::string> last[2] = {{std::nan(""), ""}, {std::nan(""), ""}};
  if (last[0].first == v) return last[0].second;
  if (last[1].first == v) std::swap(last[0], last[1]);
  else last[1] = std::move(last[0]), last[0] = {v, shortest_text(v)};
  return last[0].second;
}

double unit_roundoff(int scalar_bytes) {
  return scalar_bytes == 4 ? std::numeric_limits<float>::epsilon() / 2 : std::numeric_limits<double>::epsilon() / 2;
}

}  // namespace

ErrorModel rounding_error_model() {
  return [](double target, const ProblemShape& s, int scalar_bytes) {
    TargetOptions t;
    const double T = std::max(s.score_bound, 1.0);
    t.expected_error = kRoundingEnvelope * unit_roundoff(scalar_bytes) * std::sqrt(static_cast<double>(s.length)) * T;
    if (t.expected_error > target)
      t.reason = text("its rounding in %s (%g u sqrt(L) max(1, T) = %.2g) exceeds the target",
                      scalar_bytes == 4 ? "float32" : "float64", kRoundingEnvelope, t.expected_error);
    return t;
  };
}

ErrorModel certified_entry_error_model(std::string calibration_algorithm, bool slope_at_centre) {
  return [calibration_algorithm, slope_at_centre](double target, const ProblemShape& s, int scalar_bytes) {
    TargetOptions t;
    t.options = "eps=" + exact_text(target);
    t.expected_error = target;
    t.calibration_algorithm = calibration_algorithm;
    t.reads_beta_sensitivity = slope_at_centre;
    if (const double w = kBetaSensitivityMargin * s.beta_sensitivity; slope_at_centre && w > 0x1p-30)
      t.instance_options = "beta_sensitivity=" + exact_text(std::exp2(std::ceil(4 * std::log2(w)) / 4));
    if (scalar_bytes == 4 && target < kFloatPolyFloor) {
      t.expected_error = kFloatPolyFloor;
      t.reason = text("in float32 the features' rounding reaches %g; use float64", kFloatPolyFloor);
    }
    return t;
  };
}

ErrorModel measured_power_law_model(std::string option, double a, double b, double max_value, double T_measured) {
  return [=](double target, const ProblemShape& s, int) {
    TargetOptions t;
    const double width = std::ceil(std::pow(a / target, 1 / b));
    const double used = std::min(width, max_value);
    t.options = option + "=" + std::to_string(static_cast<long long>(used));
    t.expected_error = a * std::pow(used, -b);
    // Out of reach at any score bound: that text depends on the target only,
    // and is kept per thread for the last one.
    thread_local std::map<std::tuple<std::string, double, double, double>, std::pair<double, std::string>> out_of_reach;
    if (width > max_value) {
      auto& [last, reason] = out_of_reach[{option, a, b, max_value}];
      if (last != target)
        last = target, reason = text("it needs %s = %.2g (at most %g) for max_rel %g (%.3g w^-%.3g, the maximum over "
                                     "20 seeds)",
                                     option.c_str(), width, max_value, target, a, b);
      t.reason = reason;
    }
    if (s.score_bound > T_measured * 1.01)
      t.reason += (t.reason.empty() ? "" : "; ") +
                  text("its error was measured at T <= %g only (T = %.3g here)", T_measured, s.score_bound);
    return t;
  };
}

}  // namespace lorafgc::lora::detail
