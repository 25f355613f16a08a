#pragma once
// The error models registrations give auto (registry.hpp, ErrorModel): how an
// algorithm meets a requested max_rel of its gradients. docs/auto.md states
// what each rests on; none is a bound on the gradient's error.
#include <lorafgc/lora/registry.hpp>

#include <string>

namespace lorafgc::lora::detail {

// Exact algorithms: rounding only, modelled by the envelope
// kRoundingEnvelope u sqrt(L) max(1, T) (T the shape's Cauchy-Schwarz score
// bound) of their measured float32 errors in auto's own measure, max_rel over
// all gradients together (benchmarks/lora/exact_rounding.py): over 636 points
// (d = 4 .. 32, L = 512 .. 2^16, T = 0.25 .. 8, three families, both modes;
// reports/auto-2026-12/exact-errors-zen5-af55916.json.xz) the largest was
// 0.35 u sqrt(L) max(1, T) (gaussian L = 512), the largest error 5.9e-7. Before
// the fused kernel's two-level sums (af55916) the regret runs measured up to
// 0.89, and 1.8 at adversarial L = 2^16, T = 6; 2 was set on those. (It was 16
// before, fitted on the sweeps' max_rel, which is per gradient matrix, where a
// matrix that cancels counts on its own scale: that refused exact at
// L >= 2^15, T >= 6, where it was fastest.)
inline constexpr double kRoundingEnvelope = 2;
ErrorModel rounding_error_model();

// The certified polynomial: eps = the target, so that every approximated entry
// of exp(S) is within the target, relative; the gradients' max_rel is assumed
// no larger (amplification 1: the measured ratio of gradient max_rel to the
// certified entry error has median 0.14-0.5 and 90th percentile 0.5-5.7 over
// the three families' grids). In float, targets below kFloatPolyFloor are out
// of reach (the features' rounding). calibration_algorithm: see TargetOptions.
// With `slope_at_centre` (Chebyshev: an even degree's error has a slope at the
// centre, exp_polynomial.hpp) and the shape's beta_sensitivity known, the run
// also gets beta_sensitivity = kBetaSensitivityMargin s_beta rounded up to a
// power of 2^(1/4) (so that instances share specs; below 2^-30, none) as an
// instance option, and no score_rms: the factor is then the slope at the
// centre, above every measured ratio, where the slope fitted over the scores'
// spread fell below one (adversarial, g = 4: 1.00 against 7.04, docs/auto.md).
// The margin: the shape's s_beta is auto's first-order estimate
// (beta_sensitivity.hpp), up to 2x low on the gaussian and llm grids.
inline constexpr double kFloatPolyFloor = 1e-5;
inline constexpr double kBetaSensitivityMargin = 2;
ErrorModel certified_entry_error_model(std::string calibration_algorithm = "", bool slope_at_centre = false);

// A random estimate whose error was measured as max_rel <= a w^-b over 20
// seeds (w the option `option`, at most `max_value`) at one score bound,
// T_measured (reports/benchmarks/random_features.json: L = 16384, d = 8). A
// larger score bound is outside the model: its variance grows with T.
ErrorModel measured_power_law_model(std::string option, double a, double b, double max_value, double T_measured);

}  // namespace lorafgc::lora::detail
