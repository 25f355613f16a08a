#include "lora/common/certified_range.hpp"

#include "lora/common/norm_buckets.hpp"
#include "lora/common/shard_collectives.hpp"
#include "lora/common/thin_factors.hpp"
#include "lora/common/thin_products.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/plan_memo.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace lorafgc::lora::detail {

using Index = Eigen::Index;

// The centre with the smaller max ||K_j - c||: the mean, or the midpoint of the
// keys' bounding box (better for skewed clouds). Rounded to T, the type the
// centred keys are formed in. Any centre is exact (softmax invariance; the
// bound is computed for the one chosen), so the mean is summed in T, vectorised:
// an L x d copy in double, then a scalar sum in double, were a fifth of the
// range's time at L = 2048, d = 8.
template <class T>
Eigen::VectorXd key_centre(const Matrix<T>& K, Collectives* comm, long long length, Eigen::VectorXd* mean_out) {
  const Index n = K.rows(), d = K.cols();
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(d), lo = Eigen::VectorXd::Constant(d, HUGE_VAL),
                  hi = Eigen::VectorXd::Constant(d, -HUGE_VAL);
  for (Index a = 0; a < d && n; ++a) {
    const auto column = K.col(a);
    sum[a] = static_cast<double>(column.sum());
    lo[a] = static_cast<double>(column.minCoeff());
    hi[a] = static_cast<double>(column.maxCoeff());
  }
  if (comm) {  // the whole sequence's sums, minima and maxima
    sum_all(sum, *comm);
    max_all(hi, *comm);
    lo = -lo;
    max_all(lo, *comm);
    lo = -lo;
  }
  const Eigen::VectorXd mean = sum / static_cast<double>(comm ? length : n), mid = (lo + hi) / 2;
  auto radius = [&](const Eigen::VectorXd& c) {
    Eigen::ArrayXd squared = Eigen::ArrayXd::Zero(n);
    for (Index a = 0; a < d; ++a) squared += (K.col(a).template cast<double>().array() - c[a]).square();
    const double most = n ? squared.maxCoeff() : 0.0;
    return comm ? max_all(most, *comm) : most;
  };
  if (mean_out) *mean_out = mean;
  const Eigen::VectorXd& c = radius(mean) <= radius(mid) ? mean : mid;
  return c.template cast<T>().template cast<double>();
}

// The row norms of M, in double, one column at a time (M is column-major).
template <class T>
Eigen::VectorXd row_norms(const Matrix<T>& M) {
  Eigen::ArrayXd squared = Eigen::ArrayXd::Zero(M.rows());
  for (Index a = 0; a < M.cols(); ++a) squared += M.col(a).template cast<double>().array().square();
  return squared.sqrt().matrix();
}

// max |A B^T|, fused: the scores of a block of B's rows against R rows of A
// accumulate in registers over the columns and are reduced at once, never
// stored. With the scores of 4096-row chunks formed by (threaded) SGEMM and
// then scanned, the range took 2.4-2.9 ms at L = 8192, d = 4 (llm), 40% of it
// in OpenMP barriers and most of the rest in page faults and the scan.
namespace {

template <class T>
constexpr Eigen::Index kProductBlock = 256 / sizeof(T);  // four AVX-512 registers
template <class T>
using ScoreBlock = Eigen::Array<T, kProductBlock<T>, 1>;

// The running maximum elementwise over rows [i, i + R) of A against B's rows
// [j0, j0 + block). R rows at once share each load of B and give R x 4
// independent sums, where one row at a time gave 4 chains of FMAs, each waiting
// on the last. With that and two threads (one parallel region per call), the
// range on bench_score_range's shared_key instance (L = 65536, d = 16, m = 256,
// Zen 5) went from 22.4 ms to 10.1-10.7 ms.
template <int R, class T>
void fold_rows(const Eigen::Ref<const Matrix<T>>& A, Index i, const Eigen::Ref<const Matrix<T>>& B, Index j0,
               ScoreBlock<T>& most) {
  constexpr Index block = kProductBlock<T>;
  ScoreBlock<T> s[R];
  const ScoreBlock<T> b0 = B.col(0).template segment<block>(j0).array();
  for (int r = 0; r < R; ++r) s[r] = b0 * A(i + r, 0);
  for (Index k = 1; k < A.cols(); ++k) {
    const ScoreBlock<T> b = B.col(k).template segment<block>(j0).array();
    for (int r = 0; r < R; ++r) s[r] += b * A(i + r, k);
  }
  for (int r = 0; r < R; ++r) most = most.max(s[r].abs());
}

}  // namespace

template <class T>
double max_abs_product(const Eigen::Ref<const Matrix<T>>& A, const Eigen::Ref<const Matrix<T>>& B) {
  constexpr Index block = kProductBlock<T>, R = 4;
  const Index d = A.cols(), n = B.rows(), m = A.rows(), blocks = n / block, whole = blocks * block;
  if (m == 0 || n == 0 || d == 0) return 0;
  // Two threads from about 40 us of work: one parallel region per call.
  const bool threaded = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(d) > 2e6;
  T best = 0;
#pragma omp parallel if (threaded) reduction(max : best)
  {
    // The running maximum elementwise, reduced once: a horizontal maximum per
    // block and row spilled to the stack and took a third of the search.
    ScoreBlock<T> most = ScoreBlock<T>::Zero();
#pragma omp for schedule(static)
    for (Index jb = 0; jb < blocks; ++jb) {
      Index i = 0;
      for (; i + R <= m; i += R) fold_rows<R>(A, i, B, jb * block, most);
      for (; i < m; ++i) fold_rows<1>(A, i, B, jb * block, most);
    }
    best = std::max(best, most.maxCoeff());
  }
  for (Index i = 0; whole < n && i < m; ++i)
    best = std::max(best, (B.bottomRows(n - whole) * A.row(i).transpose()).cwiseAbs().maxCoeff());
  return static_cast<double>(best);
}

namespace {

template <class T>
Matrix<T> centred(const Matrix<T>& K, const Eigen::VectorXd& c) {
  return K.rowwise() - c.template cast<T>().transpose();
}

// The rows of M in bucket order of their norms (norm_buckets.hpp), copied in
// that order as far as the search has asked, so that the longest rows and the
// rows reaching a norm are both leading blocks.
template <class T>
class RowsByNorm {
 public:
  RowsByNorm(const Matrix<T>& M, const NormBuckets& buckets) : M_(M), buckets_(buckets), rows_(M.rows(), M.cols()) {}
  Index size() const { return M_.rows(); }
  const NormBuckets& buckets() const { return buckets_; }
  // The first n rows of the order.
  Eigen::Ref<const Matrix<T>> first(Index n) {
    const auto& order = buckets_.order();
    for (Index a = 0; a < M_.cols(); ++a)
      for (Index i = copied_; i < n; ++i) rows_(i, a) = M_(order[static_cast<std::size_t>(i)], a);
    copied_ = std::max(copied_, n);
    return rows_.topRows(n);
  }

 private:
  const Matrix<T>& M_;
  const NormBuckets& buckets_;
  Matrix<T> rows_;
  Index copied_ = 0;
};

template <class T>
double largest_score(RowsByNorm<T>& side, RowsByNorm<T>& other, Index a, Index b, double beta, double tau,
                     double& pairs) {
  const double norm = side.buckets().at_most_from(a);  // >= the norms of rows [a, b)
  if (a >= b || norm <= 0) return 0;
  const Index others = other.buckets().prefix_reaching(tau / (beta * norm));
  pairs += static_cast<double>(b - a) * static_cast<double>(others);
  const Eigen::Ref<const Matrix<T>> longest = side.first(b);
  return beta * max_abs_product<T>(longest.bottomRows(b - a), other.first(others));
}

struct SequenceBound {
  double query_norm = 0, key_norm = 0, centred_key_norm = 0;
  double bound = 0;  // >= |beta Q_i.(K_j - c)| for the centred keys as stored in T
};

// The longest queries against all keys and the longest keys against all
// queries, exactly, in rounds of doubling size (8, 16, 32, ... rows per side):
// every pair left out has |S'_ij| <= beta ||Q_i|| ||K_j - c|| <= the product of
// the next norms on each side. Stops when that product is below the largest
// exact score found (the range is then the true max |S'_ij|, rounding aside),
// or when the pairs computed exceed `budget_rows` full rows and columns
// (2 budget_rows L; the last round may double it). Keys and queries that
// Cauchy-Schwarz already puts below the best score are skipped.
template <class T>
SequenceBound sequence_bound(const SequenceRows<T>& rows, double beta, Index budget_rows) {
  SequenceBound s;
  RowsByNorm<T> q(rows.Q, rows.queries), k(rows.Kc, rows.keys);
  const Index Lq = rows.Q.rows(), Lk = rows.Kc.rows();
  s.query_norm = rows.queries.max_norm();
  s.centred_key_norm = rows.keys.max_norm();
  s.key_norm = rows.key_norm;
  const double cauchy_schwarz = beta * s.query_norm * s.centred_key_norm;
  s.bound = cauchy_schwarz;
  if (budget_rows <= 0 || cauchy_schwarz == 0) return s;
  const double budget = 2.0 * static_cast<double>(budget_rows) * static_cast<double>(std::max(Lq, Lk));
  double tau = 0, pairs = 0, tail = cauchy_schwarz;
  for (Index covered = 0, next = 8; tail > tau && covered < std::max(Lq, Lk); covered = next, next *= 2) {
    tau = std::max(tau, largest_score(q, k, std::min(covered, Lq), std::min(next, Lq), beta, tau, pairs));
    tau = std::max(tau, largest_score(k, q, std::min(covered, Lk), std::min(next, Lk), beta, tau, pairs));
    tail = next < Lq && next < Lk ? beta * rows.queries.at_most_from(next) * rows.keys.at_most_from(next) : 0.0;
    if (pairs >= budget) break;
  }
  // Each exact score is a d-term dot product in T: |error| <= gamma_d ||Q_i|| ||K_j - c||.
  const double u = std::numeric_limits<T>::epsilon() / 2, d = static_cast<double>(rows.Q.cols());
  const double rounding = d * u / (1 - d * u) * cauchy_schwarz;
  s.bound = std::min(cauchy_schwarz, std::max(tau + rounding, tail));
  return s;
}

// T_cauchy_schwarz, T_centred and T_used from the largest norms and the
// search's bound on |S'_ij|.
template <class T>
void finish_range(CertifiedRange& range, double key_norm, double centred_key_norm, double bound, double d) {
  const double abs_beta = std::abs(range.beta);
  range.T_cauchy_schwarz = abs_beta * range.query_norm * key_norm;
  range.T_centred = abs_beta * range.query_norm * centred_key_norm;
  // The norms above are sums of d squares in double; the scaled features round
  // each entry once more in T: |q^.k^ T_used - S'| <= 2u(1 + u) T_centred.
  const double u = std::numeric_limits<T>::epsilon() / 2;
  range.T_used = std::min(bound, range.T_centred) * (1 + 2 * (d + 2) * std::numeric_limits<double>::epsilon()) +
                 3 * u * range.T_centred;
}

}  // namespace

double CertifiedRange::centring_error(double unit_roundoff) const {
  return std::expm1(3 * unit_roundoff * T_centred * (1 + 1e-6));
}

template <class T>
SequenceRows<T>::SequenceRows(const Matrix<T>& x, const Matrix<T>& Wq, const Matrix<T>& Wk, bool centre)
    : SequenceRows(thin_times_small(x, Wq), thin_times_small(x, Wk), centre) {}

template <class T>
SequenceRows<T>::SequenceRows(Matrix<T> queries_in, Matrix<T> keys_in, bool centre)
    : Q(std::move(queries_in)), Kc(std::move(keys_in)), queries(row_norms(Q)) {
  // The keys centred in place (a second L x d buffer was page faults at L = 8192).
  Eigen::VectorXd mean;
  this->centre = centre && Kc.rows() ? key_centre(Kc, nullptr, 0, &mean) : Eigen::VectorXd::Zero(Kc.cols());
  key_norm = Kc.rows() ? row_norms(Kc).maxCoeff() : 0.0;
  // The mean summed in T is within n u max|K_ja| <= n u key_norm of the exact one per column.
  if (centre && Kc.rows())
    key_mean_offset = (mean - this->centre).norm() + std::sqrt(static_cast<double>(Kc.cols())) *
                                                         static_cast<double>(Kc.rows()) *
                                                         std::numeric_limits<T>::epsilon() * key_norm;
  Kc.rowwise() -= this->centre.template cast<T>().transpose();
  keys = NormBuckets(row_norms(Kc));
}

template <class T>
std::vector<SequenceRows<T>> sequence_rows(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq,
                                           const Matrix<T>& Wk, bool centre) {
  std::vector<SequenceRows<T>> out;
  out.reserve(X.size());
  for (const Matrix<T>& x : X) out.emplace_back(x, Wq, Wk, centre);
  return out;
}

template <class T>
std::shared_ptr<const std::vector<SequenceRows<T>>> memoized_rows(const Problem<T>& p, bool centre) {
  return memo_get_or_shared<std::vector<SequenceRows<T>>>(&p, "rows|" + std::to_string(sizeof(T)) + "|" + std::to_string(centre),
                                                   [&] {
                                                     const auto W = effective_weights(p);
                                                     return sequence_rows(p.X, W[index(Projection::Q)],
                                                                          W[index(Projection::K)], centre);
                                                   });
}

template <class T>
double cauchy_schwarz_bound(const std::vector<SequenceRows<T>>& rows, double beta) {
  double query = 0, key = 0;
  for (const SequenceRows<T>& r : rows) query = std::max(query, r.queries.max_norm()), key = std::max(key, r.key_norm);
  return std::abs(beta) * query * key;
}

template <class T>
CertifiedRange certified_range(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq, const Matrix<T>& Wk,
                               double beta, const ScoreRangeOptions& options) {
  return certified_range(sequence_rows(X, Wq, Wk, options.centre), beta, options);
}

template <class T>
CertifiedRange certified_range(const std::vector<SequenceRows<T>>& rows, double beta, const ScoreRangeOptions& options) {
  CertifiedRange range;
  range.beta = beta;
  const double abs_beta = std::abs(beta);
  double key_norm = 0, centred_key_norm = 0, bound = 0, d = 0;
  for (const SequenceRows<T>& r : rows) {
    range.centres.push_back(r.centre);
    const SequenceBound s = sequence_bound(r, abs_beta, options.range_rows);
    range.query_norm = std::max(range.query_norm, s.query_norm);
    key_norm = std::max(key_norm, s.key_norm);
    centred_key_norm = std::max(centred_key_norm, s.centred_key_norm);
    bound = std::max(bound, s.bound);
    d = static_cast<double>(r.Q.cols());
  }
  finish_range<T>(range, key_norm, centred_key_norm, bound, d);
  return range;
}

// Per sequence, as certified_range with range_rows = 0: the bound is the largest
// of |beta| max||Q_i|| max||K_j - c|| within each sequence, not the product of
// the batch's largest norms.
template <class T>
CertifiedRange certified_range_shard(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq, const Matrix<T>& Wk,
                                     double beta, bool centre, long long length, Collectives& comm) {
  CertifiedRange range;
  range.beta = beta;
  const Index batch = static_cast<Index>(X.size());
  Eigen::VectorXd norms(3 * batch);  // per sequence: max||Q_i||, max||K_j||, max||K_j - c||
  for (Index b = 0; b < batch; ++b) {
    const Matrix<T> Q = thin_times_small(X[b], Wq), K = thin_times_small(X[b], Wk);
    range.centres.push_back(centre ? key_centre(K, &comm, length) : Eigen::VectorXd::Zero(K.cols()));
    norms[3 * b] = row_norms(Q).maxCoeff();
    norms[3 * b + 1] = row_norms(K).maxCoeff();
    norms[3 * b + 2] = row_norms(centred(K, range.centres.back())).maxCoeff();
  }
  max_all(norms, comm);
  double key_norm = 0, centred_key_norm = 0, bound = 0;
  for (Index b = 0; b < batch; ++b) {
    range.query_norm = std::max(range.query_norm, norms[3 * b]);
    key_norm = std::max(key_norm, norms[3 * b + 1]);
    centred_key_norm = std::max(centred_key_norm, norms[3 * b + 2]);
    bound = std::max(bound, std::abs(beta) * norms[3 * b] * norms[3 * b + 2]);
  }
  finish_range<T>(range, key_norm, centred_key_norm, bound, static_cast<double>(Wq.cols()));
  return range;
}

template <class T>
Matrix<T> scaled_queries(const Matrix<T>& Q, const CertifiedRange& range) {
  return Q / static_cast<T>(range.query_norm > 0 ? range.query_norm : 1);
}

template <class T>
Matrix<T> scaled_keys(const Matrix<T>& K, const CertifiedRange& range, std::size_t sequence) {
  if (range.T_used <= 0) return Matrix<T>::Zero(K.rows(), K.cols());
  return centred(K, range.centres.at(sequence)) * static_cast<T>(range.beta * range.query_norm / range.T_used);
}

template struct SequenceRows<float>;
template struct SequenceRows<double>;
template std::vector<SequenceRows<float>> sequence_rows(const std::vector<Matrix<float>>&, const Matrix<float>&,
                                                        const Matrix<float>&, bool);
template std::vector<SequenceRows<double>> sequence_rows(const std::vector<Matrix<double>>&, const Matrix<double>&,
                                                         const Matrix<double>&, bool);
template std::shared_ptr<const std::vector<SequenceRows<float>>> memoized_rows(const Problem<float>&, bool);
template std::shared_ptr<const std::vector<SequenceRows<double>>> memoized_rows(const Problem<double>&, bool);
template double cauchy_schwarz_bound(const std::vector<SequenceRows<float>>&, double);
template double cauchy_schwarz_bound(const std::vector<SequenceRows<double>>&, double);
template CertifiedRange certified_range(const std::vector<SequenceRows<float>>&, double, const ScoreRangeOptions&);
template CertifiedRange certified_range(const std::vector<SequenceRows<double>>&, double, const ScoreRangeOptions&);
template double max_abs_product(const Eigen::Ref<const Matrix<float>>&, const Eigen::Ref<const Matrix<float>>&);
template double max_abs_product(const Eigen::Ref<const Matrix<double>>&, const Eigen::Ref<const Matrix<double>>&);
template CertifiedRange certified_range(const std::vector<Matrix<float>>&, const Matrix<float>&, const Matrix<float>&,
                                        double, const ScoreRangeOptions&);
template CertifiedRange certified_range(const std::vector<Matrix<double>>&, const Matrix<double>&,
                                        const Matrix<double>&, double, const ScoreRangeOptions&);
}  // namespace lorafgc::lora::detail

namespace lorafgc::lora {

template <class T>
ScoreRange certified_score_range(const Problem<T>& p, const ScoreRangeOptions& options) {
  p.validate();
  const auto r = detail::certified_range(p.X, p.effective_weight(Projection::Q), p.effective_weight(Projection::K),
                                         p.beta, options);
  return {r.T_cauchy_schwarz, r.T_centred, r.T_used};
}

template <class T>
Vector<T> common_key_shift(const std::vector<Matrix<T>>& X, const Matrix<T>& Wk, double ratio) {
  if (!(ratio >= 0) || !std::isfinite(ratio)) throw InvalidArgument("ratio", "must be finite and >= 0");
  double g = 0;
  for (const auto& x : X) g = std::max(g, static_cast<double>((x * Wk).rowwise().norm().maxCoeff()));
  // x0^T W_k = sigma_1 t v_1 for x0 = t u_1: ||b|| = t sigma_1.
  const Eigen::JacobiSVD<Matrix<T>> svd(Wk, Eigen::ComputeFullU);
  const double sigma = static_cast<double>(svd.singularValues()(0));
  if (sigma <= 0) throw InvalidArgument("Wk", "is zero: the keys have no component to share");
  return svd.matrixU().col(0) * static_cast<T>(ratio * g / sigma);
}

template <class T>
void add_common_key_component(Problem<T>& p, double ratio) {
  p.validate();
  const Vector<T> x0 = common_key_shift(p.X, p.effective_weight(Projection::K), ratio);
  for (auto& x : p.X) x.rowwise() += x0.transpose();
}

template ScoreRange certified_score_range(const Problem<float>&, const ScoreRangeOptions&);
template ScoreRange certified_score_range(const Problem<double>&, const ScoreRangeOptions&);
template void add_common_key_component(Problem<float>&, double);
template void add_common_key_component(Problem<double>&, double);
template Vector<float> common_key_shift(const std::vector<Matrix<float>>&, const Matrix<float>&, double);
template Vector<double> common_key_shift(const std::vector<Matrix<double>>&, const Matrix<double>&, double);

}  // namespace lorafgc::lora

namespace lorafgc::lora::detail {

template Eigen::VectorXd key_centre(const Matrix<float>&, Collectives*, long long, Eigen::VectorXd*);
template Eigen::VectorXd key_centre(const Matrix<double>&, Collectives*, long long, Eigen::VectorXd*);
template CertifiedRange certified_range_shard(const std::vector<Matrix<float>>&, const Matrix<float>&,
                                              const Matrix<float>&, double, bool, long long, Collectives&);
template CertifiedRange certified_range_shard(const std::vector<Matrix<double>>&, const Matrix<double>&,
                                              const Matrix<double>&, double, bool, long long, Collectives&);
template Eigen::VectorXd row_norms(const Matrix<float>&);
template Eigen::VectorXd row_norms(const Matrix<double>&);
template Matrix<float> scaled_queries(const Matrix<float>&, const CertifiedRange&);
template Matrix<double> scaled_queries(const Matrix<double>&, const CertifiedRange&);
template Matrix<float> scaled_keys(const Matrix<float>&, const CertifiedRange&, std::size_t);
template Matrix<double> scaled_keys(const Matrix<double>&, const CertifiedRange&, std::size_t);

}  // namespace lorafgc::lora::detail
