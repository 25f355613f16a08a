#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/gradients.hpp>

#include <cmath>

namespace lorafgc::lora {

template <class T>
void require_finite_gradients(const Gradients<T>& g, const std::string& algorithm) {
  bool ok = std::isfinite(g.loss);
  for (const auto& a : g.adapter)
    if (a) ok = ok && a->dA.allFinite() && a->dB.allFinite();
  for (const auto& w : g.weight)
    if (w) ok = ok && w->allFinite();
  if (!ok)
    throw NumericalError(algorithm + ": the loss or a gradient overflowed in " +
                         std::string(dtype_name<T>()) +
                         " (inputs were finite); rescale the inputs or use float64");
}

template <class T>
Gradients<T> gradients_from_weights(const Problem<T>& p, double loss, const std::array<Matrix<T>, 3>& dW,
                                    bool keep_weights) {
  const T s = static_cast<T>(p.scale());
  Gradients<T> g;
  g.loss = loss;
  for (Projection q : kProjections) {
    const auto& a = p.adapter[index(q)];
    if (!a) continue;
    const Matrix<T>& G = dW[index(q)];
    g.adapter[index(q)] = AdapterGradient<T>{s * G * a->A.transpose(), s * a->B.transpose() * G};
    if (keep_weights) g.weight[index(q)] = G;
  }
  return g;
}

template Gradients<float> gradients_from_weights(const Problem<float>&, double, const std::array<Matrix<float>, 3>&,
                                                 bool);
template Gradients<double> gradients_from_weights(const Problem<double>&, double,
                                                  const std::array<Matrix<double>, 3>&, bool);
template void require_finite_gradients(const Gradients<float>&, const std::string&);
template void require_finite_gradients(const Gradients<double>&, const std::string&);

}  // namespace lorafgc::lora
