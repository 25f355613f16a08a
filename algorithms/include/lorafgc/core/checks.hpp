#pragma once
// Argument checks every workload's entry points share: a malformed matrix is
// an InvalidArgument naming the argument, never a crash or a NaN passed on.
#include <lorafgc/core/eigen.hpp>
#include <lorafgc/core/errors.hpp>

#include <cmath>
#include <string>

namespace lorafgc {

inline constexpr Eigen::Index kAnySize = -1;

// InvalidArgument(name) unless m is rows x cols (kAnySize: any count).
template <class Derived>
void require_shape(const std::string& name, const Eigen::EigenBase<Derived>& m, Eigen::Index rows,
                   Eigen::Index cols) {
  if ((rows == kAnySize || m.rows() == rows) && (cols == kAnySize || m.cols() == cols)) return;
  auto text = [](Eigen::Index n) { return n == kAnySize ? std::string("any") : std::to_string(n); };
  throw InvalidArgument(name, "expected shape (" + text(rows) + ", " + text(cols) + "), got (" +
                                  std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + ")");
}

// InvalidArgument(name) if any entry is NaN or infinite. x * 0 is 0 for every
// finite x and NaN otherwise, so one vectorised sum decides: Eigen's
// allFinite() tests entry by entry, about 1.5 ns each, and validating an
// L = 8192, d = 8 problem took 100 us (every call of every algorithm pays it).
template <class Derived>
void require_finite(const std::string& name, const Eigen::DenseBase<Derived>& m) {
  using Scalar = typename Derived::Scalar;
  if (m.size() > 0 && std::isnan((m.derived().array() * Scalar(0)).sum()))
    throw InvalidArgument(name, "contains NaN or infinite entries");
}

}  // namespace lorafgc
