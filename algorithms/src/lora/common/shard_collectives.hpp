#pragma once
// What the sequence-parallel forms of the algorithms (sequence_parallel.hpp)
// share: a matrix's rows gathered from every process, matrices and column sums
// reduced in place, and the contracted products summed.
#include <lorafgc/lora/sequence_parallel.hpp>

#include "lora/common/contracted_gradients.hpp"

#include <lorafgc/core/errors.hpp>

#include <exception>
#include <optional>
#include <string>

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

// f() on every process; if it throws on any, it throws on every one (the
// failing process its own error, the others naming it), so that none waits in
// a later collective. For checks that depend on the process (its memory, its
// threads) between two collectives.
template <class F>
auto agreed(Collectives& comm, const std::string& what, F&& f) -> decltype(f()) {
  std::exception_ptr error;
  std::optional<decltype(f())> out;
  try {
    out.emplace(f());
  } catch (...) {
    error = std::current_exception();
  }
  const double failed = max_all(error ? comm.rank() + 1.0 : 0.0, comm);
  if (error) std::rethrow_exception(error);
  if (failed > 0)
    throw InvalidArgument("shard", what + " was refused on process " + std::to_string(static_cast<int>(failed) - 1) +
                                       " (its error is in its own output)");
  return std::move(*out);
}

// The contracted products and the loss, summed over the processes.
template <class T>
void sum_all(ContractedGradients<T>& sums, Collectives& comm);

}  // namespace lorafgc::lora::detail
