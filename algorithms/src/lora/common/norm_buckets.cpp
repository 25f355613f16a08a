#include "lora/common/norm_buckets.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>

namespace lorafgc::lora::detail {

namespace {

// Per bucket a relative width of 2^-7, 8 octaves below the largest norm: at
// L = 2048, counting into 4096 buckets (16 octaves at 2^-8) was a quarter of
// the certified range's time.
constexpr int kMantissaBits = 7;
constexpr long long kBuckets = 1024;

// Monotone in x >= 0: the exponent and the leading mantissa bits.
unsigned long long key(double x) {
  unsigned long long bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return bits >> (52 - kMantissaBits);
}

double from_key(unsigned long long k) {
  const unsigned long long bits = k << (52 - kMantissaBits);
  double x = 0;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

}  // namespace

NormBuckets::NormBuckets(const Eigen::VectorXd& norms) {
  const Index n = norms.size();
  // Vectorised (a scalar max_element was a quarter of this at L = 8192); GCC 12
  // warns falsely that Eigen's AVX-512 reduction reads an uninitialised lane.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning, and warns of the unknown name
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
  top_ = n ? norms.maxCoeff() : 0.0;
  const double bottom = n ? norms.minCoeff() : 0.0;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  top_key_ = key(top_);
  // Bucket b holds the keys top_key_ - b, only as many as the norms span: at
  // L = 512 counting into all 1024 took 3 us, most of a plan's bucketing.
  const unsigned long long span = top_key_ - key(bottom) + 1;
  clamped_ = span > static_cast<unsigned long long>(kBuckets);
  buckets_ = static_cast<Index>(clamped_ ? kBuckets : span);
  // The buckets once, in a loop the compiler vectorises: computed again in
  // the scatter, they made this a fifth of auto's plan at L = 8192, d = 4.
  const unsigned long long last = static_cast<unsigned long long>(buckets_ - 1);
  std::vector<std::uint16_t> bucket(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i)
    bucket[static_cast<std::size_t>(i)] = static_cast<std::uint16_t>(std::min(top_key_ - key(norms[i]), last));
  // Counting sort: counts at b + 1, their prefix sums, then the scatter moves
  // each start to the next bucket's, shifted back once at the end.
  start_.assign(static_cast<std::size_t>(buckets_) + 1, 0);
  for (const std::uint16_t b : bucket) ++start_[b + 1u];
  std::partial_sum(start_.begin(), start_.end(), start_.begin());
  order_.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) order_[static_cast<std::size_t>(start_[bucket[static_cast<std::size_t>(i)]]++)] = i;
  std::copy_backward(start_.begin(), start_.end() - 1, start_.end());
  start_[0] = 0;
}

NormBuckets::Index NormBuckets::bucket_at(Index n) const {
  return std::upper_bound(start_.begin(), start_.end(), n) - start_.begin() - 1;
}

// The last bucket also holds the norms clamped into it, down to 0.
double NormBuckets::lower_edge(Index b) const {
  return b == buckets_ - 1 && clamped_ ? 0.0 : from_key(top_key_ - b);
}

double NormBuckets::upper_edge(Index b) const { return b == 0 ? top_ : from_key(top_key_ - b + 1); }

double NormBuckets::at_least_at(Index n) const { return n < size() ? lower_edge(bucket_at(n)) : 0.0; }

double NormBuckets::at_most_from(Index n) const { return n < size() ? upper_edge(bucket_at(n)) : 0.0; }

NormBuckets::Index NormBuckets::prefix_reaching(double threshold) const {
  if (!(threshold > 0)) return size();
  // The prefix ends at the first bucket whose norms all lie below the
  // threshold: below its upper edge (exclusive but for the top bucket, which
  // ends at the largest norm).
  const auto below = [&](Index b) { return b == 0 ? top_ < threshold : upper_edge(b) <= threshold; };
  Index lo = 0, hi = buckets_;  // the first b that is below lies in [lo, hi]
  while (lo < hi) {
    const Index mid = (lo + hi) / 2;
    if (below(mid)) hi = mid;
    else lo = mid + 1;
  }
  return start_[static_cast<std::size_t>(lo)];
}

}  // namespace lorafgc::lora::detail
