#include <lorafgc/errors.hpp>
#include <lorafgc/gradients.hpp>

#include <cmath>

namespace lorafgc {

template <class T>
void require_finite(const Gradients<T>& g, const std::string& algorithm) {
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

template void require_finite(const Gradients<float>&, const std::string&);
template void require_finite(const Gradients<double>&, const std::string&);

}  // namespace lorafgc
