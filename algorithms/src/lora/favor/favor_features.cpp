#include "lora/favor/favor_features.hpp"

#include <lorafgc/core/random.hpp>

#include "lora/common/blas_gemm.hpp"
#include "lora/common/exp_kernel.hpp"

#include <cmath>

namespace lorafgc::lora::detail {

Eigen::MatrixXd favor_directions(Eigen::Index d, Eigen::Index m, std::uint64_t seed, bool orthogonal) {
  std::mt19937_64 rng(seed);
  Eigen::MatrixXd out(m, d);
  for (Eigen::Index r0 = 0; r0 < m; r0 += d) {
    const Eigen::Index n = std::min(d, m - r0);
    const Eigen::MatrixXd G = gaussian_matrix(rng, d, d);
    if (!orthogonal) {
      out.middleRows(r0, n) = G.topRows(n);
      continue;
    }
    // Orthonormal rows from the QR of a Gaussian block, rescaled to chi_d norms.
    // Q is Haar-distributed only with diag(R) > 0: Householder's signs follow
    // G's entries, and without this correction the directions were biased
    // (softmax entries 10% off at m = 2e6, d = 4).
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
    const Eigen::VectorXd signs = qr.matrixQR().diagonal().unaryExpr([](double v) { return v < 0 ? -1.0 : 1.0; });
    const Eigen::MatrixXd Qb = Eigen::MatrixXd(qr.householderQ()) * signs.asDiagonal();
    const Eigen::VectorXd norms = gaussian_matrix(rng, d, n).colwise().norm().transpose();
    out.middleRows(r0, n) = norms.asDiagonal() * Qb.transpose().topRows(n);
  }
  return out;
}

template <class T>
FavorFeatures<T>::FavorFeatures(const Eigen::MatrixXd& directions, double score_scale)
    : directions_((directions * std::sqrt(score_scale)).template cast<T>()),
      root_scale_(static_cast<T>(std::sqrt(score_scale))),
      key_offset_(static_cast<T>(directions.rowwise().squaredNorm().maxCoeff() / 2)) {}

template <class T>
void FavorFeatures<T>::queries(const Eigen::Ref<const Matrix<T>>& Q_hat, Matrix<T>& out) const {
  out.resize(Q_hat.rows(), rank());
  gemm_nt<T>(T(1), Q_hat, directions_, T(0), out);  // w.x = sqrt(T) w.q^
  out.colwise() -= out.rowwise().maxCoeff();
  vector_exp(out.data(), out.data(), static_cast<std::size_t>(out.size()));
}

template <class T>
void FavorFeatures<T>::keys(const Eigen::Ref<const Matrix<T>>& K_hat, Matrix<T>& out) const {
  out.resize(K_hat.rows(), rank());
  gemm_nt<T>(T(1), K_hat, directions_, T(0), out);
  const Vector<T> half_norm = (root_scale_ * root_scale_ / 2) * K_hat.rowwise().squaredNorm();
  out.colwise() -= half_norm;
  out.array() -= key_offset_;
  vector_exp(out.data(), out.data(), static_cast<std::size_t>(out.size()));
}

template class FavorFeatures<float>;
template class FavorFeatures<double>;

}  // namespace lorafgc::lora::detail
