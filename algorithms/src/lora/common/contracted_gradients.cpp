#include "lora/common/contracted_gradients.hpp"

namespace lorafgc::lora::detail {

template <class T>
Gradients<T> assemble_gradients(const Problem<T>& p, const ContractedGradients<T>& sums, bool whole,
                                bool keep_weights) {
  const double mean_loss = sums.loss / static_cast<double>(p.batch());
  if (whole) return gradients_from_weights(p, mean_loss, sums.right, keep_weights);
  Gradients<T> g;
  g.loss = mean_loss;
  const T s = static_cast<T>(p.scale());
  for (Projection mu : kProjections)
    if (p.adapted(mu)) g.adapter[index(mu)] = AdapterGradient<T>{s * sums.right[index(mu)], s * sums.left[index(mu)]};
  return g;
}

template Gradients<float> assemble_gradients(const Problem<float>&, const ContractedGradients<float>&, bool, bool);
template Gradients<double> assemble_gradients(const Problem<double>&, const ContractedGradients<double>&, bool,
                                              bool);

}  // namespace lorafgc::lora::detail
