#include "lora/poly/chained_gradients.hpp"

#include "lora/common/shard_collectives.hpp"

#include <lorafgc/core/errors.hpp>

#include <omp.h>

#include <algorithm>

namespace lorafgc::lora::detail {

namespace {

template <class T>
void add_contracted(const Problem<T>& p, const SequenceFactors<T>& f, const QuerySums<T>& B, const KeyResults<T>& C,
                    ContractedGradients<T>& out) {
  const T beta = static_cast<T>(p.beta), inv_batch = T(1) / static_cast<T>(p.batch());
  const ThinWidths& w = f.widths;
  using CG = ContractedGradients<T>;
  const int q = index(Projection::Q), k = index(Projection::K), v = index(Projection::V);
  out.loss += B.loss;
  if (w.K_Aq) CG::add(out.right[q], beta * B.XT_dS_KAq, inv_batch);
  if (w.X_Bq) CG::add(out.left[q], beta * C.BqT_XT_dS_K, inv_batch);
  if (w.Q_Ak) CG::add(out.right[k], beta * C.XT_dST_QAk, inv_batch);
  if (w.X_Bk) CG::add(out.left[k], beta * B.BkT_XT_dST_Q, inv_batch);
  if (w.AvT) CG::add(out.right[v], C.XT_FT_R_AvT, inv_batch);
  if (w.X_Bv) CG::add(out.left[v], B.BvT_XT_FT_R, inv_batch);
}

// The column means of M, summed in double one column at a time (zeros for an
// empty M): a whole copy in double was 160 MiB of fresh pages per call at
// L = 2^20, d = 8, and page faults were half of that call on a Zen 5 VM.
// With comm: the whole sequence's (M holds this process's rows).
template <class T>
RowVector<T> column_means(const Matrix<T>& M, const ChainedOptions<T>& o) {
  if (o.comm) return (column_sums_all(M, *o.comm) / static_cast<double>(o.length)).transpose().template cast<T>();
  RowVector<T> out = RowVector<T>::Zero(M.cols());
  for (Index a = 0; a < M.cols() && M.rows(); ++a)
    out[a] = static_cast<T>(M.col(a).template cast<double>().sum() / static_cast<double>(M.rows()));
  return out;
}

double max_all_if(double x, Collectives* comm) { return comm ? max_all(x, *comm) : x; }

// The key sums of the whole sequence (sweep C and every query need them all).
template <class T>
void reduce(KeySums<T>& A, Collectives& comm) {
  sum_all(A.WT_all, comm);
}

// The query sums sweep C reads, the error bound's column sums, and whether any normaliser failed.
template <class T>
void reduce(QuerySums<T>& B, Collectives& comm) {
  sum_all(B.UT_all, comm);
  sum_all(B.Xz, comm);
  sum_all(B.Qz, comm);
  sum_all(B.Rs, comm);
  B.bad_normaliser = max_all(B.bad_normaliser ? 1.0 : 0.0, comm) > 0;
}

}  // namespace

template <class T>
ContractedGradients<T> chained_gradients(const Problem<T>& p, const std::array<Matrix<T>, 3>& W,
                                         const CertifiedRange& range, const FeatureMap<T>& features,
                                         const ChainedOptions<T>& o) {
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  // Split short sequences so that every thread has a block (but keep >= 64 rows).
  const Index rows = std::max<Index>(
      1, std::min<Index>(o.block_rows, std::max<Index>(64, (p.length() + threads - 1) / threads)));
  ContractedGradients<T> sums;
  for (Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const SequenceFactors<T> f = make_factors(p, X, W, o.whole);
    SequenceInputs<T> in{X,
                         p.Y[b],
                         f,
                         scaled_queries(f.Q, range),
                         scaled_keys(f.K, range, static_cast<std::size_t>(b)),
                         column_means(f.N_dS, o),
                         column_means(f.K, o),
                         column_means(X, o),
                         features,
                         max_all_if(static_cast<double>(f.V.rowwise().norm().maxCoeff()), o.comm),
                         o.eta,
                         rows,
                         threads};
    const std::optional<ExactPairs<T>> exact =
        o.exact_pairs ? o.exact_pairs(b, in.Q_hat, in.K_hat) : std::optional<ExactPairs<T>>();
    if (exact) in.exact = &*exact;
    auto A = key_sums(in);
    if (o.comm) reduce(A, *o.comm);
    auto B = query_sums(in, A);
    if (o.comm) reduce(B, *o.comm);
    if (B.bad_normaliser)
      throw NumericalError(o.method + ": an approximate softmax normaliser is not positive");
    if (o.after) o.after(b, X, f, B);
    const auto C = key_results(in, B);
    add_contracted(p, f, B, C, sums);
  }
  return sums;
}

void report_random_map(std::map<std::string, double>& info, const CertifiedRange& range, double T_used,
                       const RandomMapInfo& map) {
  info["rank"] = map.rank;
  info["T_used"] = T_used;
  info["T_cauchy_schwarz"] = range.T_cauchy_schwarz;
  info["T_centred"] = range.T_centred;
  info["seed"] = map.seed;
  info["flops"] = map.flops;
  info["workspace_bytes"] = map.workspace_bytes;
}

template ContractedGradients<float> chained_gradients(const Problem<float>&, const std::array<Matrix<float>, 3>&,
                                                      const CertifiedRange&, const FeatureMap<float>&,
                                                      const ChainedOptions<float>&);
template ContractedGradients<double> chained_gradients(const Problem<double>&, const std::array<Matrix<double>, 3>&,
                                                       const CertifiedRange&, const FeatureMap<double>&,
                                                       const ChainedOptions<double>&);

}  // namespace lorafgc::lora::detail
