// Attention on Q, K, V with an upstream gradient (lorafgc/lora/attention.hpp).
// exact-reference is checked against central finite differences of
// <dO, O(Q, K, V)> and against the causal mask's meaning; exact against
// exact-reference at every tile and block edge, causal and not, float and
// double, on every SIMD target, with both of its thread layouts.
#include "lora_support.hpp"
#include "lora/simd_targets.hpp"

#include <lorafgc/lora/attention.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

template <class T>
struct Tensors {
  AttentionShape shape;
  std::vector<T> q, k, v, d_out, out, lse, dq, dk, dv;

  Tensors(AttentionShape s, std::uint64_t seed, double spread = 1.0) : shape(s) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, spread);
    const auto n = static_cast<std::size_t>(s.elements());
    for (auto* x : {&q, &k, &v, &d_out}) {
      x->resize(n);
      for (T& e : *x) e = static_cast<T>(normal(rng));
    }
    for (auto* x : {&out, &dq, &dk, &dv}) x->assign(n, T(0));
    lse.assign(static_cast<std::size_t>(s.sequences() * s.length), T(0));
  }
  AttentionForwardIO<T> forward_io() { return {q.data(), k.data(), v.data(), out.data(), lse.data()}; }
  AttentionBackwardIO<T> backward_io() {
    return {q.data(), k.data(), v.data(), out.data(), lse.data(), d_out.data(), dq.data(), dk.data(), dv.data()};
  }
  // Rows i = step/2 (mod step) of Q and K times factor: outliers that set the score range.
  void stretch_rows(long long step, double factor) {
    const long long d = shape.head_dim;
    for (long long row = step / 2; row < shape.sequences() * shape.length; row += step)
      for (auto* x : {&q, &k})
        for (long long c = 0; c < d; ++c) (*x)[static_cast<std::size_t>(row * d + c)] *= static_cast<T>(factor);
  }
  void run(const Algorithm& a) {
    attention_forward(a, shape, forward_io());
    attention_backward(a, shape, backward_io());
  }
};

AttentionShape shape(long long batch, long long heads, long long L, long long d, bool causal, double scale) {
  AttentionShape s;
  s.batch = batch;
  s.heads = heads;
  s.length = L;
  s.head_dim = d;
  s.causal = causal;
  s.scale = scale;
  return s;
}

template <class T>
double max_abs(const std::vector<T>& x) {
  double m = 0;
  for (T e : x) m = std::max(m, std::abs(static_cast<double>(e)));
  return m;
}

template <class T>
double squared_norm(const std::vector<T>& x) {
  double m = 0;
  for (T e : x) m += static_cast<double>(e) * e;
  return m;
}

// max |a - b| / max |b|: the suite's max_rel, over one output tensor.
template <class T, class U>
double max_rel(const std::vector<T>& a, const std::vector<U>& b) {
  double diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return diff / std::max(max_abs(b), 1e-300);
}

// The same inputs in double: t's values, already rounded to T.
template <class T>
Tensors<double> widened(const Tensors<T>& t) {
  Tensors<double> out(t.shape, 0);
  out.q.assign(t.q.begin(), t.q.end());
  out.k.assign(t.k.begin(), t.k.end());
  out.v.assign(t.v.begin(), t.v.end());
  out.d_out.assign(t.d_out.begin(), t.d_out.end());
  return out;
}

// <dO, O(q, k, v)> by exact-reference in double.
double objective(Tensors<double>& t) {
  attention_forward(*make_algorithm("exact-reference"), t.shape, t.forward_io());
  double sum = 0;
  for (std::size_t i = 0; i < t.out.size(); ++i) sum += t.d_out[i] * t.out[i];
  return sum;
}

// exact (spec) in T against exact-reference in double on the same (rounded) inputs.
template <class T>
void check_exact(const AttentionShape& s, const std::string& spec, std::uint64_t seed, double spread = 1.0) {
  Tensors<T> got(s, seed, spread);
  Tensors<double> truth = widened(got);
  got.run(*make_algorithm(spec));
  truth.run(*make_algorithm("exact-reference"));
  // As for the LoRA gradients (registration "exact"): each entry is a sum of
  // O(L) products whose forward error is about c L u relative to the sizes of
  // its terms; with entries of order 1 and L <= 512 that is < 1e-13 in double
  // and < 2e-5 in float relative to max|result|. A wrong mask, tile or lane is
  // off at order 1.
  const double tol = registration("exact").accuracy.tolerance(sizeof(T));
  INFO(spec << " " << dtype_name<T>() << " batch " << s.batch << " heads " << s.heads << " L " << s.length << " d "
            << s.head_dim << (s.causal ? " causal" : "") << " scale " << s.scale);
  CHECK(max_rel(got.out, truth.out) <= tol);
  CHECK(max_rel(got.lse, truth.lse) <= tol);
  CHECK(max_rel(got.dv, truth.dv) <= tol);
  if (s.length > 1) {
    CHECK(max_rel(got.dq, truth.dq) <= tol);
    CHECK(max_rel(got.dk, truth.dk) <= tol);
    return;
  }
  // One key: F = 1, dS = dO.V - dO.O = 0, so dQ = dK = 0 up to the rounding
  // of the two dot products, relative to scale |dO| |V| |K| (or |Q|).
  const auto norm = [&](const std::vector<T>& x) { return std::sqrt(squared_norm(x)); };
  const double terms = std::abs(s.scale) * norm(got.d_out) * norm(got.v);
  CHECK(max_abs(got.dq) <= tol * terms * norm(got.k));
  CHECK(max_abs(got.dk) <= tol * terms * norm(got.q));
}

}  // namespace

TEST_CASE("every exact algorithm's attention backward is the derivative of <dO, O>", "[attention]") {
  int checked = 0;
  for (const Registration& r : registered_algorithms()) {
    if (!r.exact) continue;
    INFO(r.name);
    const auto algorithm = make_algorithm(r.name);
    for (bool causal : {false, true}) {
      Tensors<double> t(shape(1, 2, 9, 3, causal, 0.7), 5);
      t.run(*algorithm);
      // Central differences: truncation O(h^2 |f'''|), rounding O(u |f| / h);
      // with h = 1e-5 and O(1) entries both are below 1e-9.
      const double h = 1e-5;
      double worst = 0;
      for (auto [x, grad] : {std::pair{&t.q, &t.dq}, std::pair{&t.k, &t.dk}, std::pair{&t.v, &t.dv}})
        for (std::size_t i = 0; i < x->size(); ++i) {
          const double keep = (*x)[i];
          (*x)[i] = keep + h;
          const double up = objective(t);
          (*x)[i] = keep - h;
          const double down = objective(t);
          (*x)[i] = keep;
          worst = std::max(worst, std::abs((up - down) / (2 * h) - (*grad)[i]));
        }
      INFO((causal ? "causal" : "full") << ": worst |finite difference - gradient| " << worst);
      CHECK(worst < 1e-8);
    }
    ++checked;
  }
  CHECK(checked >= 2);
}

TEST_CASE("exact-reference's causal mask: query i sees keys j <= i only", "[attention]") {
  Tensors<double> t(shape(1, 1, 6, 2, true, 1.0), 3);
  objective(t);
  const std::vector<double> before = t.out;
  // Row 0 sees key 0 alone: its output is v_0 and its lse the one score.
  CHECK(t.out[0] == Approx(t.v[0]).epsilon(1e-15));
  CHECK(t.lse[0] == Approx(t.q[0] * t.k[0] + t.q[1] * t.k[1]).epsilon(1e-14));
  // The last key and value change only the last row.
  t.k[10] += 3, t.v[11] -= 2;
  objective(t);
  for (std::size_t i = 0; i < 10; ++i) CHECK(t.out[i] == before[i]);
  CHECK(t.out[11] != before[11]);
}

TEST_CASE("exact's attention matches exact-reference on every supported SIMD target", "[attention]") {
  const int targets = test::on_each_target([] {
    // L around the tile (64 keys) and the block (16 rows): smaller than a
    // tile, a multiple, one past, several tiles with a ragged end, and L = 1.
    for (long long L : {1LL, 5LL, 63LL, 64LL, 65LL, 200LL})
      for (long long d : {1LL, 3LL, 8LL, 13LL})
        for (bool causal : {false, true}) {
          const AttentionShape s = shape(1, 2, L, d, causal, 0.6);
          check_exact<float>(s, "exact:tile=64,block=16,threads=2", L * 31 + d);
          check_exact<double>(s, "exact:tile=64,block=16,threads=2", L * 31 + d);
        }
  });
  CHECK(targets >= 1);
}

TEST_CASE("exact's attention: wide heads, large scores, batches and both thread layouts", "[attention]") {
  for (bool causal : {false, true}) {
    for (long long d : {16LL, 33LL, 64LL, 128LL}) check_exact<float>(shape(1, 1, 70, d, causal, 0.3), "exact", d);
    // One sequence, two threads: row blocks over threads and key sums reduced.
    check_exact<double>(shape(1, 1, 300, 8, causal, 0.5), "exact:threads=2,block=16", 2);
    // Six sequences: whole sequences per thread.
    check_exact<double>(shape(2, 3, 129, 5, causal, 0.5), "exact:threads=2", 3);
    check_exact<float>(shape(3, 1, 257, 16, causal, 0.25), "exact:threads=1", 4);
    // Scores up to about 1e4: each row's max is subtracted before exp, in the
    // forward's running max and through lse in the backward.
    check_exact<double>(shape(1, 2, 300, 4, causal, 2000.0), "exact", 5);
    check_exact<float>(shape(1, 2, 300, 4, causal, 300.0), "exact", 6);
  }
}

TEST_CASE("attention refuses bad shapes, a non-finite scale and missing data", "[attention]") {
  Tensors<float> t(shape(1, 1, 4, 2, false, 1.0), 1);
  const auto exact = make_algorithm("exact");
  auto refused = [&](AttentionShape s, const std::string& argument) {
    test::require_invalid_argument(argument, [&] { attention_forward(*exact, s, t.forward_io()); });
    test::require_invalid_argument(argument, [&] { attention_backward(*exact, s, t.backward_io()); });
  };
  refused(shape(0, 1, 4, 2, false, 1.0), "batch");
  refused(shape(1, 0, 4, 2, false, 1.0), "heads");
  refused(shape(1, 1, 0, 2, false, 1.0), "length");
  refused(shape(1, 1, 4, -1, false, 1.0), "head_dim");
  refused(shape(1, 1, 4, 2, false, std::numeric_limits<double>::quiet_NaN()), "scale");
  refused(shape(1, 1, 4, 2, false, std::numeric_limits<double>::infinity()), "scale");
  refused(shape(1LL << 40, 1, 4, 2, false, 1.0), "batch");
  refused(shape(1, 1, 4, 1LL << 17, false, 1.0), "head_dim");
  refused(shape(1LL << 30, 1LL << 30, 1LL << 30, 2, false, 1.0), "length");  // each within its limit, the product not
  AttentionForwardIO<float> io = t.forward_io();
  io.v = nullptr;
  test::require_invalid_argument("v", [&] { attention_forward(*exact, t.shape, io); });
  // Non-finite inputs are named, before any work: in the forward and the backward.
  t.k[3] = std::numeric_limits<float>::quiet_NaN();
  test::require_invalid_argument("k", [&] { attention_forward(*exact, t.shape, t.forward_io()); });
  t.k[3] = 0;
  attention_forward(*exact, t.shape, t.forward_io());
  t.d_out[5] = -std::numeric_limits<float>::infinity();
  test::require_invalid_argument("d_out", [&] { attention_backward(*exact, t.shape, t.backward_io()); });
}

namespace {

// The polynomial's attention (spec) in T against exact-reference in double:
// within the a-priori bounds it reports, plus the rounding allowance of the
// dtype (the bounds cover exp's approximation, not the products' rounding).
template <class T>
AttentionInfo check_poly(const AttentionShape& s, const std::string& spec, std::uint64_t seed, double spread,
                         double tolerance = -1, double outlier_factor = 1) {
  Tensors<T> got(s, seed, spread);
  if (outlier_factor != 1) got.stretch_rows(25, outlier_factor);
  Tensors<double> truth = widened(got);
  AttentionInfo forward, backward;
  const auto algorithm = make_algorithm(spec);
  auto io = got.forward_io();
  io.info = &forward;
  attention_forward(*algorithm, s, io);
  auto bio = got.backward_io();
  bio.info = &backward;
  attention_backward(*algorithm, s, bio);
  truth.run(*make_algorithm("exact-reference"));
  INFO(spec << " " << dtype_name<T>() << " batch " << s.batch << " heads " << s.heads << " L " << s.length << " d "
            << s.head_dim << (s.causal ? " causal" : "") << " degree " << forward.at("degree") << " T_used "
            << forward.at("T_used"));
  const double rounding = registration("exact").accuracy.tolerance(sizeof(T));
  const auto max_abs_diff = [](const auto& a, const auto& b) { return max_rel(a, b) * max_abs(b); };
  const auto within = [&](const auto& a, const auto& b, double bound) {
    INFO("max |error| " << max_abs_diff(a, b) << ", bound " << bound);
    CHECK(max_abs_diff(a, b) <= bound + rounding * max_abs(b));
  };
  REQUIRE(forward.at("certified") == 1);
  if (tolerance >= 0) {  // a fixed degree far above the need: the formulas, not the bound
    CHECK(max_rel(got.out, truth.out) <= tolerance);
    CHECK(max_rel(got.dv, truth.dv) <= tolerance);
    if (s.length > 1) {  // one key: dQ = dK = 0 exactly, and the bounds below hold them
      CHECK(max_rel(got.dq, truth.dq) <= tolerance);
      CHECK(max_rel(got.dk, truth.dk) <= tolerance);
    }
  }
  within(got.out, truth.out, forward.at("error_bound_out"));
  within(got.dq, truth.dq, backward.at("error_bound_dq"));
  within(got.dk, truth.dk, backward.at("error_bound_dk"));
  within(got.dv, truth.dv, backward.at("error_bound_dv"));
  CHECK(backward.at("degree") == forward.at("degree"));
  return forward;
}

}  // namespace

TEST_CASE("the polynomial's attention is exact in structure: degree 14 matches exact-reference", "[attention][poly]") {
  // exp on [-T, T] with T < 1 by a degree-14 Chebyshev interpolant errs by
  // about T^15 / 15! / 2^14 < 1e-15: what remains is the formulas (a wrong
  // chunk, prefix or Kronecker index is off at order one) and rounding.
  for (bool causal : {false, true})
    for (long long L : {1LL, 7LL, 40LL, 100LL}) {
      const AttentionShape s = shape(1, 2, L, 3, causal, 0.5);
      check_poly<double>(s, "poly-cheb:degree=14,block=16", L + 1, 0.4, 1e-11);
    }
}

TEST_CASE("the polynomial's attention stays within its a-priori bounds", "[attention][poly]") {
  for (bool causal : {false, true}) {
    for (const std::string spec : {"poly-cheb:eps=1e-3", "poly-taylor:eps=1e-4,block=32", "poly-cheb:eps=1e-2"}) {
      check_poly<double>(shape(2, 2, 150, 4, causal, 0.5), spec, 21, 0.5);
      check_poly<float>(shape(2, 2, 150, 4, causal, 0.5), spec, 22, 0.5);
    }
    // One sequence, fewer than the threads: BLAS threads inside one sequence.
    check_poly<double>(shape(1, 1, 300, 8, causal, 0.35), "poly-cheb:eps=1e-3,block=64,threads=2", 23, 0.5);
    // Keys with a large common component: centring removes it (T_used far below Cauchy-Schwarz).
    const auto info = check_poly<double>(shape(1, 2, 90, 4, causal, 1.0), "poly-cheb:eps=1e-3", 24, 0.2);
    CHECK(info.at("T_used") <= info.at("T_cauchy_schwarz"));
  }
}

namespace {

// max_rel of every output of `got` against `want` within tolerance.
template <class T>
void check_close(const Tensors<T>& got, const Tensors<double>& want, double tolerance) {
  CHECK(max_rel(got.out, want.out) <= tolerance);
  CHECK(max_rel(got.dq, want.dq) <= tolerance);
  CHECK(max_rel(got.dk, want.dk) <= tolerance);
  CHECK(max_rel(got.dv, want.dv) <= tolerance);
}

// A random map at its tight options (a large rank) in double: max_rel of every
// output against exact-reference within the registration's estimate tolerance
// (a sanity check of the chain; no bound exists).
void check_estimate(const AttentionShape& s, const std::string& spec, double tolerance, std::uint64_t seed) {
  Tensors<double> got(s, seed, 0.5), truth(s, seed, 0.5);
  got.run(*make_algorithm(spec));
  truth.run(*make_algorithm("exact-reference"));
  INFO(spec << (s.causal ? " causal" : ""));
  check_close(got, truth, tolerance);
}

}  // namespace

// Chunks of 16 rows: with one chunk a causal run would be all diagonal, exact.
TEST_CASE("the random maps' attention: the same seed gives the same result, another seed another", "[attention]") {
  const AttentionShape s = shape(1, 2, 50, 3, true, 0.5);
  for (const std::string spec : {"favor:features=64,block=16", "poly-sketch:sketch=16,block=16"}) {
    Tensors<double> a(s, 3, 0.5), b(s, 3, 0.5), c(s, 3, 0.5);
    a.run(*make_algorithm(spec + ",seed=5"));
    b.run(*make_algorithm(spec + ",seed=5"));
    c.run(*make_algorithm(spec + ",seed=6"));
    CHECK(a.dq == b.dq);
    CHECK(a.out == b.out);
    CHECK(a.dq != c.dq);
  }
}

TEST_CASE("poly-hybrid's attention is exact in structure: degree 14 with exact rows matches exact-reference",
          "[attention][poly]") {
  // As the polynomial's case above: an exact entry counted twice or missed, a
  // zeroed feature row that is not, or a causal pair of the wrong chunk is off
  // at order one. Three exact rows of each side; rows 12, 37, 62, 87 of Q and K
  // twice as long, so that at L = 40 and 100 they are in different chunks of 16
  // (one row of another sequence at L = 40: the third of each side is random).
  for (bool causal : {false, true})
    for (long long L : {1LL, 7LL, 40LL, 100LL}) {
      const AttentionShape s = shape(1, 2, L, 3, causal, 0.5);
      const auto info = check_poly<double>(s, "poly-hybrid:degree=14,block=16,outliers=3", L + 1, 0.4, 1e-11, 2.0);
      // L = 1: the one key is its own centre, every score 0; no exact row can narrow that.
      CHECK(info.at("outlier_queries") == (L == 1 ? 0 : 3));
      CHECK(info.at("outlier_keys") == (L == 1 ? 0 : 3));
    }
}

TEST_CASE("poly-hybrid's attention stays within its a-priori bounds, its polynomial on the smaller bulk range",
          "[attention][poly]") {
  // Every 25th row of Q and K four times longer: the outliers set T_used.
  for (bool causal : {false, true}) {
    for (const std::string spec : {"poly-hybrid:eps=1e-3,outliers=8", "poly-hybrid:eps=1e-3,outliers=8,block=32"}) {
      const auto info = check_poly<double>(shape(2, 2, 200, 4, causal, 0.5), spec, 41, 0.5, -1, 4.0);
      CHECK(info.at("T_bulk") < info.at("T_used") / 2);
      check_poly<float>(shape(2, 2, 200, 4, causal, 0.5), spec, 42, 0.5, -1, 4.0);
    }
    check_poly<double>(shape(1, 3, 400, 4, causal, 0.5), "poly-hybrid:eps=1e-4", 43, 0.5, -1, 4.0);
    // Rows 40 times longer: exact scores of several hundred, past exp's range in
    // float and double; each row's shift keeps every entry at most 1.
    const auto info = check_poly<double>(shape(1, 2, 200, 4, causal, 0.5), "poly-hybrid:outliers=8", 44, 0.5, -1, 40.0);
    CHECK(info.at("T_used") > 710);
    check_poly<float>(shape(1, 2, 200, 4, causal, 0.5), "poly-hybrid:outliers=8", 44, 0.5, -1, 40.0);
  }
}

namespace {

// The spec info names as chosen[spec]; "" when none.
std::string chosen_spec(const AttentionInfo& info) {
  for (const auto& [key, value] : info)
    if (key.rfind("chosen[", 0) == 0 && value == 1) return key.substr(7, key.size() - 8);
  return "";
}

// A selector's attention: forward and backward choose the same algorithm, and
// return what that algorithm returns on the same inputs.
void check_selector(const AttentionShape& s, const std::string& spec, std::uint64_t seed, double outlier_factor = 1) {
  Tensors<double> got(s, seed, 0.5);
  if (outlier_factor != 1) got.stretch_rows(25, outlier_factor);
  Tensors<double> direct = got;
  AttentionInfo forward, backward;
  auto io = got.forward_io();
  io.info = &forward;
  const auto selector = make_algorithm(spec);
  attention_forward(*selector, s, io);
  auto bio = got.backward_io();
  bio.info = &backward;
  attention_backward(*selector, s, bio);
  const std::string chosen = chosen_spec(forward);
  INFO(spec << " chose " << chosen << (s.causal ? ", causal" : ""));
  REQUIRE(!chosen.empty());
  CHECK(chosen_spec(backward) == chosen);
  direct.run(*make_algorithm(chosen));
  // Not bitwise: exact's row sums depend on its buffers' alignment (lse differs
  // at 1e-15 between two calls); another algorithm would differ at its error.
  const double rounding = registration("exact").accuracy.tolerance(sizeof(double));
  check_close(got, direct, rounding);
  CHECK(max_rel(got.lse, direct.lse) <= rounding);
}

}  // namespace

TEST_CASE("auto's attention runs its plan's choice, the same forward and backward", "[attention][auto]") {
  for (bool causal : {false, true}) {
    check_selector(shape(1, 2, 200, 4, causal, 0.5), "auto:calibrated=false", 51);
    check_selector(shape(2, 1, 300, 4, causal, 0.5), "auto:calibrated=false,target_error=1e-2", 52, 4.0);
  }
  // A target no candidate meets: refused naming it, with the closest candidate.
  Tensors<double> t(shape(1, 1, 8, 2, false, 1.0), 1);
  test::require_invalid_argument("target_error", [&] {
    attention_forward(*make_algorithm("auto:calibrated=false,target_error=1e-300"), t.shape, t.forward_io());
  });
}

TEST_CASE("attention conformance: every registered algorithm computes it or refuses, naming the algorithm",
          "[attention]") {
  // Nothing here names an algorithm: exact ones within their rounding
  // tolerance of the oracle, approximate ones certified and within their
  // a-priori bounds (check_poly's criterion), a selector exactly its choice,
  // the rest refused.
  for (const Registration& r : registered_algorithms()) {
    INFO(r.name);
    // A selector probes with its harness variant (auto: no calibrations).
    const auto algorithm = make_algorithm(r.selector && !r.variants.empty() ? r.variants.front() : r.name);
    Tensors<double> probe(shape(1, 1, 4, 2, false, 1.0), 1);
    try {
      attention_forward(*algorithm, probe.shape, probe.forward_io());
    } catch (const InvalidArgument& e) {
      CHECK(e.argument() == "algorithm");
      continue;
    }
    for (bool causal : {false, true}) {
      const AttentionShape s = shape(2, 1, 70, 4, causal, 0.5);
      if (r.exact) {
        check_exact<double>(s, r.name, 31);
        check_exact<float>(s, r.name, 32);
      } else if (r.selector) {
        check_selector(s, r.variants.empty() ? r.name : r.variants.front(), 36);
      } else if (r.accuracy.guarantee == Accuracy::Guarantee::estimate) {
        check_estimate(s, r.name + ":" + r.accuracy.tight_options, r.accuracy.estimate_tolerance, 35);
      } else {
        check_poly<double>(s, r.name, 33, 0.5);
        check_poly<float>(s, r.name, 34, 0.5);
      }
    }
  }
}
