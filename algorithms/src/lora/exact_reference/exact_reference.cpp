#include "lora/exact_reference/exact_reference.hpp"

namespace lorafgc::lora {

namespace {

// Row softmax with the row maximum subtracted, so exp never overflows.
template <class T>
Matrix<T> row_softmax(const Matrix<T>& S) {
  Matrix<T> F = (S.colwise() - S.rowwise().maxCoeff()).array().exp().matrix();
  const Vector<T> inv = F.rowwise().sum().cwiseInverse();
  return inv.asDiagonal() * F;
}

template <class T>
struct Forward {
  Matrix<T> Q, K, V, F, O, R;
};

template <class T>
Forward<T> forward(const Matrix<T>& X, const Matrix<T>& Y, const Matrix<T>& Wq, const Matrix<T>& Wk,
                   const Matrix<T>& Wv, T beta, const AttentionKernel<T>* kernel = nullptr, Eigen::Index b = 0) {
  Forward<T> f;
  f.Q = X * Wq;
  f.K = X * Wk;
  f.V = X * Wv;
  if (kernel) {
    const Matrix<T> E = (*kernel)(b, f.Q, f.K);
    f.F = E.rowwise().sum().cwiseInverse().asDiagonal() * E;
  } else {
    f.F = row_softmax<T>(beta * f.Q * f.K.transpose());
  }
  f.O = f.F * f.V;
  f.R = f.O - Y;
  return f;
}

}  // namespace

template <class T>
double exact_reference_loss(const Problem<T>& p) {
  p.validate();
  double loss = 0;
  for (Eigen::Index b = 0; b < p.batch(); ++b)
    loss += 0.5 * static_cast<double>(forward(p.X[b], p.Y[b], p.effective_weight(Projection::Q),
                                              p.effective_weight(Projection::K),
                                              p.effective_weight(Projection::V), static_cast<T>(p.beta))
                                          .R.squaredNorm());
  return loss / static_cast<double>(p.batch());
}

template <class T>
Gradients<T> exact_reference_gradients(const Problem<T>& p, bool weights, const AttentionKernel<T>* kernel) {
  const Eigen::Index d = p.width();
  const T beta = static_cast<T>(p.beta);
  const T inv_batch = T(1) / static_cast<T>(p.batch());
  const Matrix<T> Wq = p.effective_weight(Projection::Q);
  const Matrix<T> Wk = p.effective_weight(Projection::K);
  const Matrix<T> Wv = p.effective_weight(Projection::V);

  std::array<Matrix<T>, 3> dW;
  for (auto& m : dW) m = Matrix<T>::Zero(d, d);
  double loss = 0;
  for (Eigen::Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const Forward<T> fw = forward(X, p.Y[b], Wq, Wk, Wv, beta, kernel, b);
    const Matrix<T>&Q = fw.Q, &K = fw.K, &V = fw.V, &F = fw.F, &O = fw.O, &R = fw.R;
    loss += 0.5 * static_cast<double>(R.squaredNorm());

    const Matrix<T> dV = F.transpose() * R;
    const Vector<T> delta = (R.array() * O.array()).rowwise().sum().matrix();
    const Matrix<T> dF = R * V.transpose();
    const Matrix<T> dS = (F.array() * (dF.colwise() - delta).array()).matrix();
    const Matrix<T> dQ = beta * dS * K;
    const Matrix<T> dK = beta * dS.transpose() * Q;
    dW[index(Projection::Q)] += inv_batch * (X.transpose() * dQ);
    dW[index(Projection::K)] += inv_batch * (X.transpose() * dK);
    dW[index(Projection::V)] += inv_batch * (X.transpose() * dV);
  }

  return gradients_from_weights(p, loss / static_cast<double>(p.batch()), dW, weights);
}

template double exact_reference_loss(const Problem<float>&);
template double exact_reference_loss(const Problem<double>&);
template Gradients<float> exact_reference_gradients(const Problem<float>&, bool, const AttentionKernel<float>*);
template Gradients<double> exact_reference_gradients(const Problem<double>&, bool, const AttentionKernel<double>*);

}  // namespace lorafgc::lora
