#include <lorafgc/poly_error_bound.hpp>

#include <algorithm>

namespace lorafgc {

double poly_gradient_error_bound(const PolyBoundInputs& in) {
  const double eta = in.e < 1 ? 2 * in.e / (1 - in.e) : 1e300;
  const double L = static_cast<double>(in.length), d = static_cast<double>(in.width);
  // rho_R and R_max describe the approximate residual; the true one differs by
  // at most eta nu per entry.
  const double rho_R = in.rho_R + d * eta * in.nu, R_max = in.R_max + eta * in.nu;
  const double zeta = eta * (3 * in.nu * rho_R + 2 * d * in.nu * in.nu);
  const std::array<double, 3> weight_error = {
      in.beta * L * in.X_max * zeta * in.K_max,
      in.beta * L * in.X_max * zeta * in.Q_max,
      L * in.X_max * eta * (R_max + in.nu),
  };
  double bound = 0;
  for (int p = 0; p < 3; ++p)
    if (in.adapted[p])
      bound = std::max({bound, in.scale * weight_error[p] * in.A_row_l1[p],
                        in.scale * weight_error[p] * in.B_col_l1[p]});
  return bound;
}

}  // namespace lorafgc
