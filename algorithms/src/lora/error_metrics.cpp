#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/core/errors.hpp>

#include <cmath>

namespace lorafgc::lora {

namespace {

struct Accumulate {
  ErrorMetrics m;
  double diff_sq = 0, ref_sq = 0;

  template <class T, class U>
  void add(const Matrix<T>& a, const Matrix<U>& r, const std::string& name) {
    if (a.rows() != r.rows() || a.cols() != r.cols())
      throw InvalidArgument(name, "shapes differ between the compared gradients");
    const Matrix<double> diff = a.template cast<double>() - r.template cast<double>();
    const double ref_max = r.template cast<double>().cwiseAbs().maxCoeff();
    const double diff_max = diff.cwiseAbs().maxCoeff();
    m.max_abs = std::max(m.max_abs, diff_max);
    m.max_rel = std::max(m.max_rel, ref_max > 0 ? diff_max / ref_max : diff_max);
    diff_sq += diff.squaredNorm();
    ref_sq += r.template cast<double>().squaredNorm();
  }
};

}  // namespace

template <class T, class U>
ErrorMetrics compare_gradients(const Gradients<T>& a, const Gradients<U>& r) {
  Accumulate acc;
  for (Projection p : kProjections) {
    const std::string k = key(p);
    if (r.adapter[index(p)]) {
      if (!a.adapter[index(p)]) throw InvalidArgument(k, "adapter gradient missing");
      acc.add(a.adapter[index(p)]->dB, r.adapter[index(p)]->dB, "dB_" + k);
      acc.add(a.adapter[index(p)]->dA, r.adapter[index(p)]->dA, "dA_" + k);
    }
    if (r.weight[index(p)] && a.weight[index(p)])
      acc.add(*a.weight[index(p)], *r.weight[index(p)], "dW_" + k);
  }
  acc.m.frobenius_rel = acc.ref_sq > 0 ? std::sqrt(acc.diff_sq / acc.ref_sq) : std::sqrt(acc.diff_sq);
  acc.m.loss_abs = std::abs(a.loss - r.loss);
  return acc.m;
}

template ErrorMetrics compare_gradients(const Gradients<float>&, const Gradients<float>&);
template ErrorMetrics compare_gradients(const Gradients<float>&, const Gradients<double>&);
template ErrorMetrics compare_gradients(const Gradients<double>&, const Gradients<double>&);
template ErrorMetrics compare_gradients(const Gradients<double>&, const Gradients<float>&);

}  // namespace lorafgc::lora
