// The polynomial-method gradients. exp(S) ~ U W^T, U = phi(Q^), W = psi(K^),
// with Q^ = Q / max||Q_i||, K^ = K / max||K_j|| and T = beta max||Q_i|| max||K_j||.
// With D = U (W^T 1) the row sums:
//   F N        = D^-1 U (W^T N)
//   F^T M      = W (U^T D^-1 M)
//   dS N       = D^-1 [ sum_c diag(R_c) U M_c  -  diag(delta) U (W^T N) ],
//                M_c = W^T diag(V_c) N                      (k x m, one per c < d)
//   dS^T N'    = sum_c diag(V_c) W M'_c  -  W (U^T diag(delta / D) N'),
//                M'_c = U^T diag(R_c / D) N'
// The M_c stack side by side into one k x (d m) GEMM ("the row-Kronecker step").
// Sweep A (keys) forms W^T [1 | V | X B_v], W^T N, M; sweep B (queries) forms
// O, R, delta, every query-side gradient and the U^T reductions; sweep C (keys)
// the key-side gradients. The thin factors N, N' are those of `exact`.
#include <lorafgc/core/errors.hpp>
#include "lora/poly/monomial_features.hpp"
#include "lora/poly/error_bound.hpp"
#include "lora/poly/poly.hpp"
#include <lorafgc/core/system_info.hpp>

#include "lora/common/thin_factors.hpp"

#include <omp.h>

#include <cmath>
#include <limits>

namespace lorafgc {

namespace {

using detail::Index;
using detail::SequenceFactors;

struct Widths {
  Index d = 0, m = 0, mq = 0, rk = 0, mp = 0, rq = 0, mk = 0, rv = 0, mv = 0;
};

template <class T>
Widths widths_of(const SequenceFactors<T>& f, Index d) {
  return {d, f.mq + f.rk, f.mq, f.rk, f.rq + f.mk, f.rq, f.mk, f.rv, f.mv};
}

Widths widths_of(const ProblemShape& s, bool whole) {
  Widths w;
  w.d = s.width;
  const Index r = s.rank, d = s.width;
  w.mq = s.adapted[0] ? (whole ? d : r) : 0;
  w.rk = s.adapted[1] && !whole ? r : 0;
  w.rq = s.adapted[0] && !whole ? r : 0;
  w.mk = s.adapted[1] ? (whole ? d : r) : 0;
  w.rv = s.adapted[2] && !whole ? r : 0;
  w.mv = s.adapted[2] ? (whole ? d : r) : 0;
  w.m = w.mq + w.rk;
  w.mp = w.rq + w.mk;
  return w;
}

// out (n x d m): column block c is diag(A_c) N.
template <class T>
void spread(const Eigen::Ref<const Matrix<T>>& A, const Eigen::Ref<const Matrix<T>>& N, Matrix<T>& out) {
  const Index d = A.cols(), m = N.cols();
  out.resize(N.rows(), d * m);
  for (Index c = 0; c < d; ++c) out.middleCols(c * m, m) = A.col(c).asDiagonal() * N;
}

// out (n x m) = sum_c diag(A_c) Z_c, Z_c the c-th column block of Z (n x d m).
template <class T>
void contract_spread(const Matrix<T>& Z, const Eigen::Ref<const Matrix<T>>& A, Matrix<T>& out) {
  const Index d = A.cols(), m = Z.cols() / d;
  out.noalias() = A.col(0).asDiagonal() * Z.leftCols(m);
  for (Index c = 1; c < d; ++c) out.noalias() += A.col(c).asDiagonal() * Z.middleCols(c * m, m);
}

template <class T>
struct KeySums {  // sweep A
  Matrix<T> WF, WN, WM;
  KeySums(Index k, const Widths& w)
      : WF(Matrix<T>::Zero(k, 1 + w.d + w.rv)), WN(Matrix<T>::Zero(k, w.m)), WM(Matrix<T>::Zero(k, w.d * w.m)) {}
  void add(const KeySums& o) {
    WF += o.WF;
    WN += o.WN;
    WM += o.WM;
  }
};

template <class T>
struct QuerySums {  // sweep B
  double loss = 0;
  bool bad_normaliser = false;
  Eigen::VectorXd Xz, Qz, Rs;  // error-bound column sums, see poly_error_bound.hpp
  Matrix<T> Pq, Lk, Lv, UA, UM, UD;
  QuerySums(Index k, const Widths& w)
      : Xz(Eigen::VectorXd::Zero(w.d)),
        Qz(Eigen::VectorXd::Zero(w.d)),
        Rs(Eigen::VectorXd::Zero(w.d)),
        Pq(Matrix<T>::Zero(w.d, w.mq)),
        Lk(Matrix<T>::Zero(w.rk, w.d)),
        Lv(Matrix<T>::Zero(w.rv, w.d)),
        UA(Matrix<T>::Zero(k, w.mv)),
        UM(Matrix<T>::Zero(k, w.d * w.mp)),
        UD(Matrix<T>::Zero(k, w.mp)) {}
  void add(const QuerySums& o) {
    loss += o.loss;
    Xz += o.Xz;
    Qz += o.Qz;
    Rs += o.Rs;
    bad_normaliser = bad_normaliser || o.bad_normaliser;
    Pq += o.Pq;
    Lk += o.Lk;
    Lv += o.Lv;
    UA += o.UA;
    UM += o.UM;
    UD += o.UD;
  }
};

template <class T>
struct KeyResults {  // sweep C
  Matrix<T> Pv, Lq, Pk;
  KeyResults(const Widths& w)
      : Pv(Matrix<T>::Zero(w.d, w.mv)), Lq(Matrix<T>::Zero(w.rq, w.d)), Pk(Matrix<T>::Zero(w.d, w.mk)) {}
  void add(const KeyResults& o) {
    Pv += o.Pv;
    Lq += o.Lq;
    Pk += o.Pk;
  }
};

struct Scratch {
  template <class T>
  struct Of {
    Matrix<T> feat, Z, S, T2, R, RC, out;
    Vector<T> dinv, delta;
  };
};

// Runs body(i0, n, scratch, local) over row blocks on `threads` threads, each
// with its own accumulator made by make(), reduced into the returned one.
template <class Acc, class Scr, class Make, class Body>
Acc sweep(Index L, Index rows, int threads, Make make, Body body) {
  Acc total = make();
  const Index blocks = (L + rows - 1) / rows;
  // No idle threads spinning at the barrier when there are fewer blocks.
  threads = static_cast<int>(std::min<Index>(threads, blocks));
#pragma omp parallel num_threads(threads)
  {
    Acc local = make();
    Scr scratch;
#pragma omp for schedule(dynamic, 1)
    for (Index b = 0; b < blocks; ++b) body(b * rows, std::min(rows, L - b * rows), scratch, local);
#pragma omp critical(lorafgc_poly_reduce)
    total.add(local);
  }
  return total;
}

// Per-row terms of the a-priori bound (poly_error_bound.hpp) from the
// approximate residual, inflated to cover the true one: ||R_i|| + eta nu,
// |delta_i| + eta nu (nu + ||R_i||), |R_ic| + eta nu.
template <class T, class Acc>
void accumulate_bound_sums(const Eigen::Ref<const Matrix<T>>& X, const Eigen::Ref<const Matrix<T>>& Q,
                           const Matrix<T>& R, const Vector<T>& delta, double nu, double eta, Acc& acc) {
  const Eigen::ArrayXd r = R.template cast<double>().rowwise().norm().array() + eta * nu;
  const Eigen::ArrayXd dl = delta.template cast<double>().array().abs() + eta * nu * (nu + r);
  const Eigen::VectorXd z = (2 * nu * r + dl + 2 * nu * nu).matrix();
  acc.Xz.noalias() += X.template cast<double>().cwiseAbs().transpose() * z;
  acc.Qz.noalias() += Q.template cast<double>().cwiseAbs().transpose() * z;
  acc.Rs += ((R.template cast<double>().array().abs() + eta * nu + nu).colwise().sum()).matrix().transpose();
}

template <class T>
double max_row_norm(const Matrix<T>& M) {
  return M.rows() ? static_cast<double>(M.rowwise().norm().maxCoeff()) : 0.0;
}

}  // namespace

double poly_flops(const ProblemShape& s, long long k, const PolyConfig& c) {
  const Widths w = widths_of(s, c.weights || !c.contract);
  const double Lk2 = 2.0 * s.length * static_cast<double>(k);
  double units = 0;
  units += (1 + w.d + w.rv) + (w.m ? w.m * (w.d + 1) : 0);                          // sweep A
  units += (1 + w.d + w.rv) + w.mv + (w.m ? w.m * (w.d + 1) : 0) + w.mp * (w.d + 1);  // sweep B
  units += w.mv + w.mp * (w.d + 1);                                                 // sweep C
  const double feature_sweeps = (w.mv + w.mp) ? 3 : 2;
  return s.batch * Lk2 * (units + feature_sweeps);
}

double poly_workspace_bytes(const ProblemShape& s, long long k, int scalar_bytes, const PolyConfig& c) {
  const Widths w = widths_of(s, c.weights || !c.contract);
  const double threads = c.threads > 0 ? c.threads : omp_get_max_threads();
  const double b = static_cast<double>(std::min<long long>(c.block_rows, std::max<long long>(s.length, 1)));
  const double sums = static_cast<double>(k) * ((1 + w.d + w.rv) + w.m + w.d * w.m + w.mv + w.d * w.mp + w.mp);
  const double per_thread = b * k + b * w.d * std::max(w.m, w.mp) + sums;
  const double per_sequence = s.length * (5.0 * w.d + w.m + w.mp + w.rv);  // Q, K, V, Q^, K^, thin factors
  return scalar_bytes * ((threads + 1) * per_thread + per_sequence);
}

PolyPlan plan_poly(const ProblemShape& s, double T, int scalar_bytes, const PolyConfig& c) {
  PolyPlan plan;
  plan.T = T;
  plan.polynomial = c.degree >= 0 ? exp_polynomial(c.kind, c.degree, T) : smallest_exp_polynomial(c.kind, c.eps, T);
  const int g = plan.polynomial.degree;
  plan.rank = monomial_rank(s.width, g);
  const double budget = c.memory_budget_bytes > 0 ? c.memory_budget_bytes : physical_memory_bytes() / 2;
  char text[320];
  if (plan.rank < 0 || plan.rank > (1LL << 40)) {
    std::snprintf(text, sizeof text,
                  "degree %d with d = %lld: rank C(d + g, g) %s (T = %.4g, eps = %.3g); no memory budget "
                  "holds such features",
                  g, static_cast<long long>(s.width), plan.rank < 0 ? "overflows 64 bits" : "exceeds 2^40", T,
                  c.eps);
    throw InvalidArgument("degree", text);
  }
  plan.bytes = poly_workspace_bytes(s, plan.rank, scalar_bytes, c);
  plan.flops = poly_flops(s, plan.rank, c);
  if (plan.bytes > budget) {
    std::snprintf(text, sizeof text,
                  "degree %d, rank %lld needs %.3g bytes of workspace, over the budget of %.3g bytes "
                  "(T = %.4g, eps = %.3g; raise option memory_mb or lower the degree)",
                  g, plan.rank, plan.bytes, budget, T, c.eps);
    throw InvalidArgument("memory budget", text);
  }
  return plan;
}

template <class T>
Gradients<T> poly_gradients(const Problem<T>& p, const PolyConfig& c) {
  p.validate();
  const bool whole = c.weights || !c.contract;
  ProblemShape shape = shape_of(p);
  shape.weights = c.weights;
  // One polynomial for the whole batch: normalise every sequence by the
  // batch-wide norms, so that s = T q^.k^ with T = |beta| rho_q rho_k for all.
  std::array<Matrix<T>, 3> Weff;
  for (Projection q : kProjections) Weff[index(q)] = p.effective_weight(q);
  double rho_q = 0, rho_k = 0;
  for (const auto& X : p.X) {
    rho_q = std::max(rho_q, max_row_norm(Matrix<T>(X * Weff[0])));
    rho_k = std::max(rho_k, max_row_norm(Matrix<T>(X * Weff[1])));
  }
  const double T_bound = std::abs(p.beta) * rho_q * rho_k;
  const PolyPlan plan = plan_poly(shape, T_bound, sizeof(T), c);
  const MonomialFeatures features(static_cast<int>(p.width()), plan.polynomial.degree);
  std::vector<double> wq, wk;
  features.weights(plan.polynomial.scaled, wq, wk);
  const int threads = c.threads > 0 ? c.threads : omp_get_max_threads();
  // Split short sequences so that every thread has a block (but keep >= 64 rows).
  const Index k = plan.rank, d = p.width(),
              rows = std::max<Index>(1, std::min<Index>(c.block_rows,
                                                        std::max<Index>(64, (p.length() + threads - 1) / threads)));
  // Rounding of <phi, psi>: a sum of k + g + 1 products per entry, each term
  // bounded by |ct_j|, relative to e^{-T}: gamma_{k+g+1}(u) sum_j |ct_j| e^T.
  double coeff_sum = 0;
  for (double v : plan.polynomial.scaled) coeff_sum += std::abs(v);
  const double u = std::numeric_limits<T>::epsilon() / 2, n_terms = static_cast<double>(k + plan.polynomial.degree + 1);
  const double eval_error = n_terms * u / (1 - n_terms * u) * coeff_sum * std::exp(plan.T);
  const double eta = softmax_relative_error(plan.polynomial.certified_error + eval_error);

  std::array<Matrix<T>, 3> contracted, left;
  double loss = 0, bound = 0;
  const T beta = static_cast<T>(p.beta), inv_batch = T(1) / static_cast<T>(p.batch());
  auto add = [&](Matrix<T>& into, const Matrix<T>& term) {
    if (into.size() == 0) into = Matrix<T>::Zero(term.rows(), term.cols());
    into.noalias() += inv_batch * term;
  };

  for (Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const Matrix<T>& Y = p.Y[b];
    const Index L = X.rows();
    const SequenceFactors<T> f = detail::make_factors(p, X, Weff, whole);
    const Widths w = widths_of(f, d);
    const Matrix<T> Qh = f.Q / static_cast<T>(rho_q > 0 ? rho_q : 1);
    // beta's sign folds into the key side so that P(T x) applies.
    const T key_scale = static_cast<T>((rho_k > 0 ? 1 / rho_k : 1) * (p.beta < 0 ? -1 : 1));
    const Matrix<T> Kh = f.K * key_scale;
    const double nu = static_cast<double>(f.V.rowwise().norm().maxCoeff());
    using S = Scratch::Of<T>;

    const KeySums<T> A = sweep<KeySums<T>, S>(
        L, rows, threads, [&] { return KeySums<T>(k, w); },
        [&](Index j0, Index n, S& s, KeySums<T>& acc) {
          features.evaluate<T>(Kh.middleRows(j0, n), wk, s.feat);
          s.T2.resize(n, 1 + d + w.rv);
          s.T2.col(0).setOnes();
          s.T2.rightCols(d + w.rv) = f.f_right.middleRows(j0, n);
          acc.WF.noalias() += s.feat.transpose() * s.T2;
          if (w.m) {
            acc.WN.noalias() += s.feat.transpose() * f.ds_right.middleRows(j0, n);
            spread<T>(f.V.middleRows(j0, n), f.ds_right.middleRows(j0, n), s.S);
            acc.WM.noalias() += s.feat.transpose() * s.S;
          }
        });

    const QuerySums<T> B = sweep<QuerySums<T>, S>(
        L, rows, threads, [&] { return QuerySums<T>(k, w); },
        [&](Index i0, Index n, S& s, QuerySums<T>& acc) {
          features.evaluate<T>(Qh.middleRows(i0, n), wq, s.feat);
          s.T2.noalias() = s.feat * A.WF;  // [D | D O | D F X B_v]
          if (!(s.T2.col(0).minCoeff() > 0)) acc.bad_normaliser = true;
          s.dinv = s.T2.col(0).cwiseInverse();
          s.T2 = s.dinv.asDiagonal() * s.T2;
          s.R = s.T2.middleCols(1, d) - Y.middleRows(i0, n);
          acc.loss += 0.5 * static_cast<double>(s.R.squaredNorm());
          if (w.rv) acc.Lv.noalias() += s.T2.rightCols(w.rv).transpose() * s.R;
          s.delta = (s.R.array() * s.T2.middleCols(1, d).array()).rowwise().sum();
          accumulate_bound_sums<T>(X.middleRows(i0, n), f.Q.middleRows(i0, n), s.R, s.delta, nu, eta, acc);
          if (w.mv) {
            s.RC.noalias() = s.dinv.asDiagonal() * (s.R * f.r_coef);
            acc.UA.noalias() += s.feat.transpose() * s.RC;
          }
          if (w.m) {
            s.Z.noalias() = s.feat * A.WM;
            contract_spread<T>(s.Z, s.R, s.out);
            s.out.noalias() -= s.delta.asDiagonal() * (s.feat * A.WN);
            s.out = s.dinv.asDiagonal() * s.out;  // dS N for these rows
            if (w.mq) acc.Pq.noalias() += X.middleRows(i0, n).transpose() * s.out.leftCols(w.mq);
            if (w.rk) acc.Lk.noalias() += s.out.rightCols(w.rk).transpose() * f.Q.middleRows(i0, n);
          }
          if (w.mp) {
            const Matrix<T> RD = s.dinv.asDiagonal() * s.R;
            spread<T>(RD, f.ds_left.middleRows(i0, n), s.S);
            acc.UM.noalias() += s.feat.transpose() * s.S;
            acc.UD.noalias() +=
                s.feat.transpose() * (s.delta.cwiseProduct(s.dinv).asDiagonal() * f.ds_left.middleRows(i0, n));
          }
        });
    if (B.bad_normaliser)
      throw NumericalError("poly: an approximate softmax normaliser is not positive (degree " +
                           std::to_string(plan.polynomial.degree) + ", T = " + std::to_string(plan.T) +
                           "); raise the degree or use float64");

    // Sweep C only when some key-side gradient is wanted (not for W_q alone with weights).
    const KeyResults<T> C = !(w.mv + w.mp) ? KeyResults<T>(w) : sweep<KeyResults<T>, S>(
        L, rows, threads, [&] { return KeyResults<T>(w); },
        [&](Index j0, Index n, S& s, KeyResults<T>& acc) {
          features.evaluate<T>(Kh.middleRows(j0, n), wk, s.feat);
          if (w.mv) acc.Pv.noalias() += X.middleRows(j0, n).transpose() * (s.feat * B.UA);
          if (w.mp) {
            s.Z.noalias() = s.feat * B.UM;
            contract_spread<T>(s.Z, f.V.middleRows(j0, n), s.out);
            s.out.noalias() -= s.feat * B.UD;  // dS^T N' for these keys
            if (w.rq) acc.Lq.noalias() += s.out.leftCols(w.rq).transpose() * f.K.middleRows(j0, n);
            if (w.mk) acc.Pk.noalias() += X.middleRows(j0, n).transpose() * s.out.rightCols(w.mk);
          }
        });

    loss += B.loss;
    if (w.mq) add(contracted[0], beta * B.Pq);
    if (w.rq) add(left[0], beta * C.Lq);
    if (w.mk) add(contracted[1], beta * C.Pk);
    if (w.rk) add(left[1], beta * B.Lk);
    if (w.mv) add(contracted[2], C.Pv);
    if (w.rv) add(left[2], B.Lv);

    PolyBoundInputs in;
    in.eta = eta;
    in.weights = c.weights;
    in.beta = std::abs(p.beta);
    in.scale = std::abs(p.scale());
    in.X_max = static_cast<double>(X.cwiseAbs().maxCoeff());
    in.K_max = static_cast<double>(f.K.cwiseAbs().maxCoeff());
    in.Xz = B.Xz.maxCoeff();
    in.Qz = B.Qz.maxCoeff();
    in.Rs = B.Rs.maxCoeff();
    for (Projection q : kProjections)
      if (const auto& a = p.adapter[index(q)]) {
        in.adapted[index(q)] = true;
        in.A_row_l1[index(q)] = static_cast<double>(a->A.cwiseAbs().rowwise().sum().maxCoeff());
        in.B_col_l1[index(q)] = static_cast<double>(a->B.cwiseAbs().colwise().sum().maxCoeff());
      }
    bound += poly_gradient_error_bound(in) / static_cast<double>(p.batch());
  }

  const double mean_loss = loss / static_cast<double>(p.batch());
  Gradients<T> g;
  if (whole) {
    g = gradients_from_weights(p, mean_loss, contracted, c.weights);
  } else {
    g.loss = mean_loss;
    const T s = static_cast<T>(p.scale());
    for (Projection q : kProjections)
      if (p.adapted(q)) g.adapter[index(q)] = AdapterGradient<T>{s * contracted[index(q)], s * left[index(q)]};
  }
  g.info["degree"] = plan.polynomial.degree;
  g.info["rank"] = static_cast<double>(plan.rank);
  g.info["T"] = plan.T;
  g.info["poly_error"] = plan.polynomial.certified_error;
  g.info["eval_error"] = eval_error;
  g.info["error_bound"] = bound;
  g.info["workspace_bytes"] = plan.bytes;
  g.info["flops"] = plan.flops;
  return g;
}

template Gradients<float> poly_gradients(const Problem<float>&, const PolyConfig&);
template Gradients<double> poly_gradients(const Problem<double>&, const PolyConfig&);

}  // namespace lorafgc
