#pragma once
// Sequence-parallel gradients (docs/sequence-parallel.md): P processes each
// hold a contiguous block of rows of every sequence's X and Y (rank order is
// row order) and the same adapters and weights; together they compute the
// gradients of the whole problem, and every process returns them.
//  - exact gathers X (L d elements per process: the keys' rows are formed
//    from it) and reduces its d x r contracted products: bytes linear in L.
//  - poly-cheb reduces its key-side and query-side feature sums (k x O(d r))
//    and a few d-vectors: bytes independent of L.
// The library does not link MPI: it talks through Collectives, which a tool
// implements with MPI (tools/seqpar/mpi_collectives.hpp) and LocalCollectives
// with one process.
#include <lorafgc/lora/algorithm.hpp>

#include <cstddef>
#include <vector>

namespace lorafgc::lora {

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: every process's n values combined elementwise (every process
  // passes the same n).
  virtual void sum(double* values, std::size_t n) = 0;
  virtual void sum(float* values, std::size_t n) = 0;
  virtual void max(double* values, std::size_t n) = 0;
  // Every process's bytes concatenated in rank order into `all`; counts[p] is
  // the number of bytes process p sends (every process passes the same counts).
  virtual void gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) = 0;
};

// One process: the combinations are the values themselves.
class LocalCollectives final : public Collectives {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(double*, std::size_t) override {}
  void sum(float*, std::size_t) override {}
  void max(double*, std::size_t) override {}
  void gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) override;
};

// The rows [first, first + count) process `rank` of `processes` holds of a
// sequence of `length` rows: the first length % processes processes one more.
struct RowRange {
  long long first = 0, count = 0;
};
RowRange shard_rows(long long length, int processes, int rank);

// The rows `rows` of every sequence of `whole` (X and Y), with its adapters and
// weights: process p's shard is rows_of(whole, shard_rows(L, P, p)).
template <class T>
Problem<T> rows_of(const Problem<T>& whole, RowRange rows);

// What every process agrees on before an algorithm runs on its shard.
struct ShardLayout {
  long long length = 0;  // L of the whole sequence
  RowRange rows;         // this process's rows of it
};

// The gradients of the problem whose rows `shard` holds, for an algorithm with
// a sequence-parallel form (exact, poly-cheb, poly-taylor); others are refused
// by name. Every process calls it with its own shard; a shard refused on any
// process (a shape that differs between processes, a process without rows,
// invalid data) is refused on every process, so that none waits forever.
Gradients<float> sequence_parallel_gradients(const Algorithm& algorithm, const Problem<float>& shard,
                                             Collectives& comm);
Gradients<double> sequence_parallel_gradients(const Algorithm& algorithm, const Problem<double>& shard,
                                              Collectives& comm);

}  // namespace lorafgc::lora
