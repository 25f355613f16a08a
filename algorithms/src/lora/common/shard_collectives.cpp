#include "lora/common/shard_collectives.hpp"

namespace lorafgc::lora::detail {

template <class T>
Matrix<T> gather_rows(const Matrix<T>& mine, const ShardLayout& layout, Collectives& comm) {
  // Row-major (the transpose, column-major) so that each process's rows are contiguous.
  const Matrix<T> mine_t = mine.transpose();
  std::vector<std::size_t> counts;
  for (int p = 0; p < comm.size(); ++p)
    counts.push_back(static_cast<std::size_t>(shard_rows(layout.length, comm.size(), p).count * mine.cols()) *
                     sizeof(T));
  Matrix<T> all_t(mine.cols(), layout.length);
  comm.gather_all(mine_t.data(), all_t.data(), counts);
  return all_t.transpose();
}

template <class T>
void sum_all(Matrix<T>& m, Collectives& comm) {
  if (m.size()) comm.sum(m.data(), static_cast<std::size_t>(m.size()));
}

void sum_all(Eigen::VectorXd& v, Collectives& comm) {
  if (v.size()) comm.sum(v.data(), static_cast<std::size_t>(v.size()));
}

double sum_all(double x, Collectives& comm) {
  comm.sum(&x, 1);
  return x;
}

double max_all(double x, Collectives& comm) {
  comm.max(&x, 1);
  return x;
}

void max_all(Eigen::VectorXd& v, Collectives& comm) {
  if (v.size()) comm.max(v.data(), static_cast<std::size_t>(v.size()));
}

template <class T>
Eigen::VectorXd column_sums_all(const Matrix<T>& mine, Collectives& comm) {
  Eigen::VectorXd sums(mine.cols());
  for (Eigen::Index a = 0; a < mine.cols(); ++a) sums[a] = mine.col(a).template cast<double>().sum();
  sum_all(sums, comm);
  return sums;
}

template <class T>
void sum_all(ContractedGradients<T>& sums, Collectives& comm) {
  for (Matrix<T>& m : sums.right) sum_all(m, comm);
  for (Matrix<T>& m : sums.left) sum_all(m, comm);
  sums.loss = sum_all(sums.loss, comm);
}

#define LORAFGC_INSTANTIATE(T)                                                               \
  template Matrix<T> gather_rows(const Matrix<T>&, const ShardLayout&, Collectives&);        \
  template void sum_all(Matrix<T>&, Collectives&);                                           \
  template Eigen::VectorXd column_sums_all(const Matrix<T>&, Collectives&);                  \
  template void sum_all(ContractedGradients<T>&, Collectives&);
LORAFGC_INSTANTIATE(float)
LORAFGC_INSTANTIATE(double)
#undef LORAFGC_INSTANTIATE

}  // namespace lorafgc::lora::detail
