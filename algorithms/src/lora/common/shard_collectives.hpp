#pragma once
// What the sequence-parallel forms of the algorithms (sequence_parallel.hpp)
// share: a matrix's rows gathered from every process, matrices and column sums
// reduced in place, and the contracted products summed.
#include <lorafgc/lora/sequence_parallel.hpp>

#include "lora/common/contracted_gradients.hpp"

namespace lorafgc::lora::detail {

// Every process's rows of `mine` (its layout's rows), stacked in row order.
template <class T>
Matrix<T> gather_rows(const Matrix<T>& mine, const ShardLayout& layout, Collectives& comm);

// Elementwise sum / max over the processes, in place.
template <class T>
void sum_all(Matrix<T>& m, Collectives& comm);
void sum_all(Eigen::VectorXd& v, Collectives& comm);
double sum_all(double x, Collectives& comm);
double max_all(double x, Collectives& comm);
void max_all(Eigen::VectorXd& v, Collectives& comm);

// The column sums of the whole sequence's M (this process holds rows of it), summed in double.
template <class T>
Eigen::VectorXd column_sums_all(const Matrix<T>& mine, Collectives& comm);

// The contracted products and the loss, summed over the processes.
template <class T>
void sum_all(ContractedGradients<T>& sums, Collectives& comm);

}  // namespace lorafgc::lora::detail
