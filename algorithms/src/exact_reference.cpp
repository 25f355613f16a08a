#include <lorafgc/exact_reference.hpp>

namespace lorafgc {

namespace {

// Row softmax with the row maximum subtracted, so exp never overflows.
template <class T>
Matrix<T> row_softmax(const Matrix<T>& S) {
  Matrix<T> F = (S.colwise() - S.rowwise().maxCoeff()).array().exp().matrix();
  const Vector<T> inv = F.rowwise().sum().cwiseInverse();
  return inv.asDiagonal() * F;
}

}  // namespace

template <class T>
Gradients<T> exact_reference_gradients(const Problem<T>& p, bool weights) {
  p.validate();
  const Eigen::Index d = p.width();
  const T beta = static_cast<T>(p.beta), s = static_cast<T>(p.scale());
  const T inv_batch = T(1) / static_cast<T>(p.batch());
  const Matrix<T> Wq = p.effective_weight(Projection::Q);
  const Matrix<T> Wk = p.effective_weight(Projection::K);
  const Matrix<T> Wv = p.effective_weight(Projection::V);

  std::array<Matrix<T>, 3> dW;
  for (auto& m : dW) m = Matrix<T>::Zero(d, d);
  double loss = 0;
  for (Eigen::Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const Matrix<T> Q = X * Wq, K = X * Wk, V = X * Wv;
    const Matrix<T> S = beta * Q * K.transpose();
    const Matrix<T> F = row_softmax(S);
    const Matrix<T> O = F * V;
    const Matrix<T> R = O - p.Y[b];
    loss += 0.5 * static_cast<double>(R.squaredNorm());

    const Matrix<T> dV = F.transpose() * R;
    const Vector<T> delta = (R.array() * O.array()).rowwise().sum().matrix();
    const Matrix<T> dF = R * V.transpose();
    const Matrix<T> dS = (F.array() * (dF.colwise() - delta).array()).matrix();
    const Matrix<T> dQ = beta * dS * K;
    const Matrix<T> dK = beta * dS.transpose() * Q;
    dW[0] += inv_batch * (X.transpose() * dQ);
    dW[1] += inv_batch * (X.transpose() * dK);
    dW[2] += inv_batch * (X.transpose() * dV);
  }

  Gradients<T> g;
  g.loss = loss / static_cast<double>(p.batch());
  for (Projection q : kProjections) {
    const auto& a = p.adapter[index(q)];
    if (!a) continue;
    const Matrix<T>& G = dW[index(q)];
    g.adapter[index(q)] = AdapterGradient<T>{s * G * a->A.transpose(), s * a->B.transpose() * G};
    if (weights) g.weight[index(q)] = G;
  }
  return g;
}

template Gradients<float> exact_reference_gradients(const Problem<float>&, bool);
template Gradients<double> exact_reference_gradients(const Problem<double>&, bool);

}  // namespace lorafgc
