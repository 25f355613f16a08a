// sequence_parallel_gradients: the processes agree on the layout and on every
// shard being valid before any algorithm runs, so that a refusal reaches every
// process (a process that threw alone would leave the others waiting in a
// collective for ever); then the algorithm's sequence-parallel form runs.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

#include <array>
#include <cstring>
#include <string>

namespace lorafgc::lora {

namespace {

[[noreturn]] void refuse_shard(const Algorithm& a) {
  throw InvalidArgument("algorithm", "'" + a.name() +
                                         "' has no sequence-parallel form; use exact, poly-cheb or poly-taylor "
                                         "(docs/sequence-parallel.md)");
}

// What each process tells the others about its shard.
// Fields kWidth .. kInputs must be equal on every process: different specs,
// scalars or weights would run different collectives (a hang) or sum the
// gradients of different problems.
enum Field {
  kWidth, kRank, kBatch, kAdapted, kScalarBytes, kSpec, kAlpha, kBeta, kInputs,
  kRows, kEqualRows, kValid, kFields
};
using Description = std::array<long long, kFields>;
const char* const kFieldNames[] = {"d", "r", "batch", "adapted projections (bits q, k, v)", "dtype bytes",
                                   "algorithm spec (hash)", "alpha (bits)", "beta (bits)",
                                   "weights and adapters (hash)"};

// FNV-1a over bytes.
long long hashed(const void* data, std::size_t bytes, unsigned long long h = 14695981039346656037ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return static_cast<long long>(h);
}

long long bits(double x) {
  long long out = 0;
  std::memcpy(&out, &x, sizeof out);
  return out;
}

template <class T>
long long inputs_hash(const Problem<T>& p) {
  long long h = hashed(nullptr, 0);
  const auto add = [&](const Matrix<T>& m) {
    h = hashed(m.data(), static_cast<std::size_t>(m.size()) * sizeof(T), static_cast<unsigned long long>(h));
  };
  for (const Matrix<T>& w : p.W) add(w);
  for (const auto& a : p.adapter)
    if (a) add(a->A), add(a->B);
  return h;
}

// The threads the algorithm will run: a refusal here is agreed like any other.
void require_threads(const Algorithm& a) {
  const bool declares = a.options().canonical().find("threads=") != std::string::npos;
  const long long threads = declares ? a.options().integer("threads") : 0;
  require_threads_fit("threads", threads > 0 ? threads : omp_threads());
}

template <class T>
Description describe(const Algorithm& algorithm, const Problem<T>& shard, std::string& invalid) {
  Description d{};
  const std::string spec = algorithm.spec();
  d[kSpec] = hashed(spec.data(), spec.size());
  d[kAlpha] = bits(shard.alpha);
  d[kBeta] = bits(shard.beta);
  d[kInputs] = inputs_hash(shard);
  d[kWidth] = shard.W[0].rows();
  d[kBatch] = shard.batch();
  d[kRows] = shard.length();
  d[kEqualRows] = 1;
  for (const Matrix<T>& x : shard.X) d[kEqualRows] &= x.rows() == shard.length();
  for (Projection mu : kProjections) d[kAdapted] |= static_cast<long long>(shard.adapted(mu)) << index(mu);
  d[kScalarBytes] = sizeof(T);
  d[kValid] = 1;
  try {
    if (shard.length() > 0) shard.validate();  // no rows: refused by P <= L, on every process
    d[kRank] = shard.rank();
    require_threads(algorithm);
  } catch (const std::exception& e) {
    d[kValid] = 0;
    invalid = e.what();
  }
  return d;
}

std::vector<Description> gather_descriptions(const Description& mine, Collectives& comm) {
  std::vector<Description> all(static_cast<std::size_t>(comm.size()));
  comm.gather_all(mine.data(), all.data(), std::vector<std::size_t>(all.size(), sizeof(Description)));
  return all;
}

// The same verdict on every process, from the same descriptions.
ShardLayout agree(const std::vector<Description>& all, int rank, const std::string& invalid) {
  const int P = static_cast<int>(all.size());
  long long length = 0;
  for (const Description& d : all) length += d[kRows];
  for (int p = 0; p < P; ++p)
    if (all[p][kRows] == 0)
      throw InvalidArgument("P", std::to_string(P) + " processes for a sequence of L = " + std::to_string(length) +
                                     " rows: every process needs at least one row (P <= L)");
  for (int p = 0; p < P; ++p)
    if (!all[p][kValid])
      throw InvalidArgument("shard", p == rank ? invalid
                                               : "process " + std::to_string(p) +
                                                     "'s shard was refused (its error is in its own output)");
  for (int p = 1; p < P; ++p)
    for (int f = kWidth; f <= kInputs; ++f)
      if (all[p][f] != all[0][f])
        throw InvalidArgument("shard", "process " + std::to_string(p) + " holds " + kFieldNames[f] + " = " +
                                           std::to_string(all[p][f]) + ", process 0 " + std::to_string(all[0][f]) +
                                           ": every process must hold rows of the same problem");
  ShardLayout layout;
  for (int p = 0; p < P; ++p) {
    if (!all[p][kEqualRows])
      throw InvalidArgument("shard", "process " + std::to_string(p) + "'s sequences hold different numbers of rows");
    if (p == rank) layout.rows = {layout.length, all[p][kRows]};
    layout.length += all[p][kRows];
  }
  for (int p = 0; p < P; ++p) {
    const RowRange expected = shard_rows(layout.length, P, p);
    if (all[p][kRows] != expected.count)
      throw InvalidArgument("shard", "process " + std::to_string(p) + " holds " + std::to_string(all[p][kRows]) +
                                         " rows; shard_rows(" + std::to_string(layout.length) + ", " +
                                         std::to_string(P) + ", " + std::to_string(p) + ") gives " +
                                         std::to_string(expected.count));
  }
  return layout;
}

template <class T>
Gradients<T> run(const Algorithm& algorithm, const Problem<T>& shard, Collectives& comm) {
  std::string invalid;
  const Description mine = describe(algorithm, shard, invalid);
  const ShardLayout layout = agree(gather_descriptions(mine, comm), comm.rank(), invalid);
  Gradients<T> g = algorithm.compute_shard(shard, layout, comm);
  g.info["processes"] = comm.size();
  require_finite_gradients(g, algorithm.name());  // the same on every process: they hold the same sums
  return g;
}

}  // namespace

RowRange shard_rows(long long length, int processes, int rank) {
  if (processes < 1) throw InvalidArgument("processes", "must be >= 1, got " + std::to_string(processes));
  if (rank < 0 || rank >= processes)
    throw InvalidArgument("rank", "must lie in [0, " + std::to_string(processes) + "), got " + std::to_string(rank));
  if (length < 0) throw InvalidArgument("length", "must be >= 0, got " + std::to_string(length));
  const long long base = length / processes, extra = length % processes;
  return {rank * base + std::min<long long>(rank, extra), base + (rank < extra ? 1 : 0)};
}

template <class T>
Problem<T> rows_of(const Problem<T>& whole, RowRange rows) {
  Problem<T> shard = whole;
  for (std::size_t b = 0; b < whole.X.size(); ++b) {
    if (rows.first < 0 || rows.count < 0 || rows.first + rows.count > whole.X[b].rows())
      throw InvalidArgument("rows", "[" + std::to_string(rows.first) + ", +" + std::to_string(rows.count) +
                                        ") is not inside the sequence's " + std::to_string(whole.X[b].rows()) +
                                        " rows");
    shard.X[b] = whole.X[b].middleRows(rows.first, rows.count);
    shard.Y[b] = whole.Y[b].middleRows(rows.first, rows.count);
  }
  return shard;
}

template Problem<float> rows_of(const Problem<float>&, RowRange);
template Problem<double> rows_of(const Problem<double>&, RowRange);

void LocalCollectives::gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) {
  if (counts.size() != 1) throw InvalidArgument("counts", "one process gathers one block");
  if (counts[0]) std::memcpy(all, mine, counts[0]);
}

Gradients<float> sequence_parallel_gradients(const Algorithm& a, const Problem<float>& shard, Collectives& comm) {
  return run(a, shard, comm);
}
Gradients<double> sequence_parallel_gradients(const Algorithm& a, const Problem<double>& shard, Collectives& comm) {
  return run(a, shard, comm);
}

Gradients<float> Algorithm::compute_shard(const Problem<float>&, const ShardLayout&, Collectives&) const {
  refuse_shard(*this);
}
Gradients<double> Algorithm::compute_shard(const Problem<double>&, const ShardLayout&, Collectives&) const {
  refuse_shard(*this);
}

}  // namespace lorafgc::lora
