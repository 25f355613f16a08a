#pragma once
// The base of every registered algorithm class: the derived class provides
// `template <class T> Gradients<T> run(const Problem<T>&) const`; this base
// gives both dtypes, checks the workspace the cost model states against the
// memory budget before anything is allocated, and refuses non-finite output
// (a NumericalError, never a NaN passed on).
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/algorithm.hpp>

#include <cmath>

namespace lorafgc::lora::detail {

template <class Derived>
class Registered : public Algorithm {
 public:
  Gradients<float> compute(const Problem<float>& p) const override { return checked(p); }
  Gradients<double> compute(const Problem<double>& p) const override { return checked(p); }

 protected:
  using Algorithm::Algorithm;

 private:
  bool declares_threads() const { return options().canonical().find("threads=") != std::string::npos; }

  template <class T>
  Gradients<T> checked(const Problem<T>& p) const {
    p.validate();
    // Without the score bound (O(L d^2)): a cost model that needs it (the
    // polynomial degree) returns NaN here and checks its own plan.
    const ProblemShape shape = shape_of(p, false);
    const double bytes = workspace_bytes(shape, sizeof(T));
    if (std::isfinite(bytes))
      require_memory("L", bytes,
                     spec() + " on L = " + std::to_string(shape.length) + ", d = " + std::to_string(shape.width) +
                         ", batch " + std::to_string(shape.batch));
    const long long threads = declares_threads() ? options().integer("threads") : 0;
    require_threads_fit("threads", threads > 0 ? threads : omp_threads());
    Gradients<T> g = static_cast<const Derived&>(*this).run(p);
    require_finite_gradients(g, name());
    return g;
  }
};

}  // namespace lorafgc::lora::detail
