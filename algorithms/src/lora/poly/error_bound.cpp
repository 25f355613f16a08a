#include "lora/poly/error_bound.hpp"

#include <algorithm>

namespace lorafgc::lora {

double softmax_relative_error(double e) { return e < 1 ? 2 * e / (1 - e) : 1e300; }

double poly_gradient_error_bound(const PolyBoundInputs& in) {
  const std::array<double, 3> weight_error = {
      in.beta * in.eta * in.K_max * in.Xz,
      in.beta * in.eta * in.X_max * in.Qz,
      in.eta * in.X_max * in.Rs,
  };
  double bound = 0;
  for (int p = 0; p < 3; ++p)
    if (in.adapted[p])
      bound = std::max({bound, in.scale * weight_error[p] * in.A_row_l1[p],
                        in.scale * weight_error[p] * in.B_col_l1[p], in.weights ? weight_error[p] : 0.0});
  return bound;
}

}  // namespace lorafgc::lora
