// sequence_parallel_gradients (lorafgc/lora/sequence_parallel.hpp) without MPI:
// P threads, each with its shard, meet in an in-process Collectives. The
// agreement's refusals (which the MPI tool, holding shards of one generated
// problem, cannot provoke) are checked here on every process; the results
// against one process on the whole problem. tests/distributed/ runs the same
// under mpirun.
//
// Tolerances: the shards change only the order of sums. exact: every entry is a
// sum of O(L) products, so c L u (16 L u here). The polynomial method's features
// cancel, and its eval_error bounds the rounding of each exp entry: 4 eval_error
// + 16 L u. With one process (LocalCollectives) nothing is reordered and the
// results are the same bits.
#include "lora_support.hpp"

#include <lorafgc/lora/sequence_parallel.hpp>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

// Every process's contribution in a slot; combined in rank order on every
// process, so that all of them hold the same bits (as MPI's reductions do).
class Meeting {
 public:
  explicit Meeting(int processes) : processes_(processes), slots_(static_cast<std::size_t>(processes)) {}
  int processes() const { return processes_; }
  std::vector<std::vector<char>>& slots() { return slots_; }
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const long long generation = generation_;
    if (++arrived_ == processes_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
  }

 private:
  int processes_;
  std::vector<std::vector<char>> slots_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  long long generation_ = 0;
};

class ThreadCollectives final : public Collectives {
 public:
  ThreadCollectives(Meeting& m, int rank) : m_(m), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return m_.processes(); }
  void sum(double* v, std::size_t n) override { combine(v, n, [](double a, double b) { return a + b; }); }
  void sum(float* v, std::size_t n) override { combine(v, n, [](float a, float b) { return a + b; }); }
  void max(double* v, std::size_t n) override { combine(v, n, [](double a, double b) { return std::max(a, b); }); }
  void gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) override {
    deposit(mine, counts.at(static_cast<std::size_t>(rank_)));
    char* out = static_cast<char*>(all);
    for (const auto& slot : m_.slots()) out = std::copy(slot.begin(), slot.end(), out);
    m_.barrier();
  }

 private:
  void deposit(const void* data, std::size_t bytes) {
    const char* p = static_cast<const char*>(data);
    m_.slots()[static_cast<std::size_t>(rank_)].assign(p, p + bytes);
    m_.barrier();
  }
  template <class T, class Op>
  void combine(T* v, std::size_t n, Op op) {
    deposit(v, n * sizeof(T));
    for (std::size_t i = 0; i < n; ++i) {
      T acc = reinterpret_cast<const T*>(m_.slots()[0].data())[i];
      for (std::size_t p = 1; p < m_.slots().size(); ++p) acc = op(acc, reinterpret_cast<const T*>(m_.slots()[p].data())[i]);
      v[i] = acc;
    }
    m_.barrier();
  }
  Meeting& m_;
  int rank_;
};

// What each process returned or the message it threw.
template <class T>
struct Outcome {
  std::optional<Gradients<T>> gradients;
  std::string error;
};

// P threads, process p running on shards[p].
// other_spec: process 1's algorithm, if not empty.
template <class T>
std::vector<Outcome<T>> run_processes(const std::string& spec, const std::vector<Problem<T>>& shards,
                                      const std::string& other_spec = "") {
  const int P = static_cast<int>(shards.size());
  Meeting meeting(P);
  std::vector<Outcome<T>> out(static_cast<std::size_t>(P));
  const auto algorithm = make_algorithm(spec);
  const auto other = make_algorithm(other_spec.empty() ? spec : other_spec);
  std::vector<std::thread> threads;
  for (int p = 0; p < P; ++p)
    threads.emplace_back([&, p] {
      ThreadCollectives comm(meeting, p);
      try {
        out[static_cast<std::size_t>(p)].gradients =
            sequence_parallel_gradients(p == 1 ? *other : *algorithm, shards[static_cast<std::size_t>(p)], comm);
      } catch (const std::exception& e) {
        out[static_cast<std::size_t>(p)].error = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

template <class T>
std::vector<Problem<T>> split(const Problem<T>& whole, int P) {
  std::vector<Problem<T>> shards;
  for (int p = 0; p < P; ++p) shards.push_back(rows_of(whole, shard_rows(whole.length(), P, p)));
  return shards;
}

}  // namespace

TEST_CASE("shard_rows covers the sequence in rank order, sizes differing by at most one", "[sequence_parallel]") {
  for (long long L : {1LL, 7LL, 1001LL})
    for (int P = 1; P <= 5 && P <= L; ++P) {
      long long next = 0;
      for (int p = 0; p < P; ++p) {
        const RowRange r = shard_rows(L, P, p);
        CHECK(r.first == next);
        CHECK((r.count == L / P || r.count == L / P + 1));
        next += r.count;
      }
      CHECK(next == L);
    }
  CHECK_THROWS_WITH(shard_rows(10, 0, 0), Catch::Contains("processes"));
  CHECK_THROWS_WITH(shard_rows(10, 2, 2), Catch::Contains("rank"));
  CHECK_THROWS_WITH(shard_rows(-1, 2, 0), Catch::Contains("length"));
}

TEST_CASE("one process (LocalCollectives) gives the same bits as compute", "[sequence_parallel]") {
  const auto p = generate<double>(test::config(45, 4, 2, Adaptation::Full, 1.0));
  LocalCollectives local;
  for (const char* spec : {"exact:threads=1", "poly-cheb:range_rows=0,threads=1"}) {
    const auto algorithm = make_algorithm(spec);
    const auto one = algorithm->compute(p);
    const auto shard = sequence_parallel_gradients(*algorithm, p, local);
    INFO(spec);
    CHECK(compare_gradients(shard, one).max_abs == 0);
    CHECK(shard.loss == one.loss);
  }
}

TEMPLATE_TEST_CASE("P processes agree with one process on the whole problem", "[sequence_parallel]", float, double) {
  const double u = std::numeric_limits<TestType>::epsilon() / 2;
  for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
    auto cfg = test::config(101, 4, 2, mode, 1.0);
    cfg.batch = 2;
    const auto whole = generate<TestType>(cfg);
    for (const char* spec : {"exact:threads=1", "exact:schedule=panel,threads=1", "poly-cheb:range_rows=0,threads=1",
                             "poly-taylor:range_rows=0,threads=1"})
      for (int P : {2, 3, 4}) {
        const auto one = make_algorithm(spec)->compute(whole);
        const auto outcomes = run_processes(spec, split(whole, P));
        const bool poly = std::string(spec).rfind("poly", 0) == 0;
        const double tolerance = 16 * 101 * u + (poly ? 4 * one.info.at("eval_error") : 0.0);
        for (const auto& o : outcomes) {
          INFO(spec << " " << to_string(mode) << " P=" << P << " " << o.error);
          REQUIRE(o.gradients);
          CHECK(compare_gradients(*o.gradients, one).max_rel <= tolerance);
          CHECK(std::abs(o.gradients->loss - one.loss) <= tolerance * std::abs(one.loss));
          CHECK(compare_gradients(*o.gradients, *outcomes[0].gradients).max_abs == 0);  // the same bits everywhere
        }
      }
  }
}

TEST_CASE("a shard refused anywhere is refused on every process", "[sequence_parallel]") {
  const auto whole = generate<double>(test::config(12, 4, 2, Adaptation::Partial));
  const auto every = [](const std::vector<Outcome<double>>& outcomes, const std::string& text) {
    for (const auto& o : outcomes) {
      INFO(o.error);
      CHECK(!o.gradients);
      CHECK(o.error.find(text) != std::string::npos);
    }
  };
  SECTION("more processes than rows") {
    every(run_processes("exact", split(generate<double>(test::config(3, 4, 2, Adaptation::Partial)), 4)),
          "P: 4 processes for a sequence of L = 3 rows");
  }
  SECTION("shards of different problems") {
    auto shards = split(whole, 3);
    shards[1] = rows_of(generate<double>(test::config(12, 8, 2, Adaptation::Partial)), shard_rows(12, 3, 1));
    every(run_processes("exact", shards), "process 1 holds d = 8, process 0 4");
    shards = split(whole, 3);
    shards[2] = rows_of(generate<double>(test::config(12, 4, 2, Adaptation::Full)), shard_rows(12, 3, 2));
    every(run_processes("exact", shards), "process 2 holds adapted projections");
  }
  SECTION("different algorithms, scalars or weights") {
    every(run_processes("poly-cheb:range_rows=0", split(whole, 2), "poly-cheb:range_rows=0,centre=false"),
          "process 1 holds algorithm spec");
    auto shards = split(whole, 3);
    shards[1].beta = 2;
    every(run_processes("exact", shards), "process 1 holds beta");
    shards = split(whole, 3);
    shards[2].alpha *= 2;
    every(run_processes("exact", shards), "process 2 holds alpha");
    shards = split(whole, 3);
    shards[2].adapter[index(Projection::V)]->A(0, 0) += 1;
    every(run_processes("exact", shards), "process 2 holds weights and adapters");
  }
  SECTION("rows other than shard_rows gives") {
    auto shards = split(whole, 2);
    shards[0] = rows_of(whole, {0, 5});
    shards[1] = rows_of(whole, {5, 7});
    every(run_processes("exact", shards), "process 0 holds 5 rows; shard_rows(12, 2, 0) gives 6");
  }
  SECTION("an invalid shard on one process") {
    auto shards = split(whole, 3);
    shards[2].X[0](1, 1) = std::numeric_limits<double>::quiet_NaN();
    const auto outcomes = run_processes("exact", shards);
    every(outcomes, "shard: ");
    CHECK(outcomes[0].error.find("process 2's shard was refused") != std::string::npos);
    CHECK(outcomes[2].error.find("X") != std::string::npos);
  }
  SECTION("algorithms without a sequence-parallel form") {
    every(run_processes("favor", split(whole, 2)), "'favor' has no sequence-parallel form");
    every(run_processes("poly-hybrid", split(whole, 2)), "poly-hybrid has no sequence-parallel form");
    every(run_processes("poly-cheb", split(whole, 2)), "range_rows: ");
  }
}
