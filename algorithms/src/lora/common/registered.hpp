#pragma once
// The base of every registered algorithm class: the derived class provides
// `template <class T> Gradients<T> run(const Problem<T>&) const`; this base
// gives both dtypes and refuses non-finite output (a NumericalError, never a
// NaN passed on).
#include <lorafgc/lora/algorithm.hpp>

namespace lorafgc::lora::detail {

template <class Derived>
class Registered : public Algorithm {
 public:
  Gradients<float> compute(const Problem<float>& p) const override { return checked(p); }
  Gradients<double> compute(const Problem<double>& p) const override { return checked(p); }

 protected:
  using Algorithm::Algorithm;

 private:
  template <class T>
  Gradients<T> checked(const Problem<T>& p) const {
    Gradients<T> g = static_cast<const Derived&>(*this).run(p);
    require_finite_gradients(g, name());
    return g;
  }
};

}  // namespace lorafgc::lora::detail
