// exact-reference's attention on Q, K, V: every L x L matrix formed, the
// formulas of exact_reference.hpp in their literal order.
#include <lorafgc/core/limits.hpp>

#include "lora/common/row_major.hpp"
#include "lora/exact_reference/exact_reference.hpp"

#include <limits>

namespace lorafgc::lora {

namespace {

using detail::ConstRows;
using detail::Rows;

// The scaled scores, with -inf above the diagonal when causal.
template <class T>
Matrix<T> scores(const AttentionShape& s, const T* q, const T* k) {
  const Eigen::Index L = s.length, d = s.head_dim;
  Matrix<T> S = static_cast<T>(s.scale) * (ConstRows<T>(q, L, d) * ConstRows<T>(k, L, d).transpose());
  if (s.causal) S.template triangularView<Eigen::StrictlyUpper>().setConstant(-std::numeric_limits<T>::infinity());
  return S;
}

// F = exp(S - lse) with lse = max + log sum exp(S - max) per row.
template <class T>
Matrix<T> softmax(const Matrix<T>& S, Vector<T>& lse) {
  const Vector<T> m = S.rowwise().maxCoeff();
  const Matrix<T> E = (S.colwise() - m).array().exp().matrix();
  lse = m.array() + E.rowwise().sum().array().log();
  return E.rowwise().sum().cwiseInverse().asDiagonal() * E;
}

void require_reference_size(const AttentionShape& s, int scalar_bytes) {
  require_memory("length", 4.0 * static_cast<double>(s.length) * s.length * scalar_bytes,
                 "exact-reference attention at L = " + std::to_string(s.length));
}

}  // namespace

template <class T>
void exact_reference_attention_forward(const AttentionShape& s, const AttentionForwardIO<T>& io) {
  require_reference_size(s, sizeof(T));
  const Eigen::Index L = s.length, d = s.head_dim, n = L * d;
  for (Eigen::Index seq = 0; seq < s.sequences(); ++seq) {
    Vector<T> lse;
    const Matrix<T> F = softmax(scores(s, io.q + seq * n, io.k + seq * n), lse);
    Rows<T>(io.out + seq * n, L, d) = F * ConstRows<T>(io.v + seq * n, L, d);
    Eigen::Map<Vector<T>>(io.lse + seq * L, L) = lse;
  }
}

template <class T>
void exact_reference_attention_backward(const AttentionShape& s, const AttentionBackwardIO<T>& io) {
  require_reference_size(s, sizeof(T));
  const Eigen::Index L = s.length, d = s.head_dim, n = L * d;
  const T scale = static_cast<T>(s.scale);
  for (Eigen::Index seq = 0; seq < s.sequences(); ++seq) {
    const auto Q = ConstRows<T>(io.q + seq * n, L, d), K = ConstRows<T>(io.k + seq * n, L, d),
               V = ConstRows<T>(io.v + seq * n, L, d), O = ConstRows<T>(io.out + seq * n, L, d),
               dO = ConstRows<T>(io.d_out + seq * n, L, d);
    Vector<T> lse;
    const Matrix<T> F = softmax(scores(s, io.q + seq * n, io.k + seq * n), lse);
    const Vector<T> delta = (dO.array() * O.array()).rowwise().sum();
    const Matrix<T> dS = (F.array() * ((dO * V.transpose()).colwise() - delta).array()).matrix();
    Rows<T>(io.dq + seq * n, L, d) = scale * (dS * K);
    Rows<T>(io.dk + seq * n, L, d) = scale * (dS.transpose() * Q);
    Rows<T>(io.dv + seq * n, L, d) = F.transpose() * dO;
  }
}

template void exact_reference_attention_forward(const AttentionShape&, const AttentionForwardIO<float>&);
template void exact_reference_attention_forward(const AttentionShape&, const AttentionForwardIO<double>&);
template void exact_reference_attention_backward(const AttentionShape&, const AttentionBackwardIO<float>&);
template void exact_reference_attention_backward(const AttentionShape&, const AttentionBackwardIO<double>&);

}  // namespace lorafgc::lora
