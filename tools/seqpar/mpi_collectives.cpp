#include "seqpar/mpi_collectives.hpp"

#include <lorafgc/core/errors.hpp>

#include <mpi.h>

#include <climits>
#include <string>

namespace lorafgc::seqpar {

namespace {

// MPI counts are int: a larger message is refused by name rather than truncated.
int mpi_count(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw InvalidArgument("L", std::string(what) + " of " + std::to_string(n) +
                                   " elements exceeds MPI's int count (exact gathers all of X on every process: a shorter sequence)");
  return static_cast<int>(n);
}

template <class T>
void all_reduce(T* values, std::size_t n, MPI_Datatype type, MPI_Op op, Traffic& t) {
  const double start = MPI_Wtime();
  MPI_Allreduce(MPI_IN_PLACE, values, mpi_count(n, "a reduction"), type, op, MPI_COMM_WORLD);
  t.seconds += MPI_Wtime() - start;
  t.bytes_sent += static_cast<double>(n * sizeof(T));
  t.bytes_received += static_cast<double>(n * sizeof(T));
  ++t.calls;
}

}  // namespace

MpiCollectives::MpiCollectives() {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void MpiCollectives::sum(double* values, std::size_t n) { all_reduce(values, n, MPI_DOUBLE, MPI_SUM, traffic_); }
void MpiCollectives::sum(float* values, std::size_t n) { all_reduce(values, n, MPI_FLOAT, MPI_SUM, traffic_); }
void MpiCollectives::max(double* values, std::size_t n) { all_reduce(values, n, MPI_DOUBLE, MPI_MAX, traffic_); }

void MpiCollectives::gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) {
  if (counts.size() != static_cast<std::size_t>(size_))
    throw InvalidArgument("counts", "one block per process expected");
  std::vector<int> sizes, offsets;
  std::size_t total = 0;
  for (std::size_t c : counts) {
    sizes.push_back(mpi_count(c, "a gathered block"));
    offsets.push_back(mpi_count(total, "a gathered offset"));
    total += c;
  }
  const double start = MPI_Wtime();
  MPI_Allgatherv(mine, sizes[static_cast<std::size_t>(rank_)], MPI_BYTE, all, sizes.data(), offsets.data(), MPI_BYTE,
                 MPI_COMM_WORLD);
  traffic_.seconds += MPI_Wtime() - start;
  const std::size_t own = counts[static_cast<std::size_t>(rank_)];
  traffic_.bytes_sent += static_cast<double>(own);
  traffic_.bytes_received += static_cast<double>(total - own);
  ++traffic_.calls;
}

}  // namespace lorafgc::seqpar
