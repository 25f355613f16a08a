#pragma once
// Rows ordered by norm without sorting: each norm falls in a bucket of
// relative width 2^-7 (the exponent and 7 leading mantissa bits of the
// double, so a bucket's edges are exact doubles), as many buckets as the
// norms span but at most 1024 below the largest (8 octaves; shorter rows share
// the last bucket). One counting pass, O(L + 1024), orders the rows by bucket, longest first; every order
// statistic is then known to within 0.8%, and the rows above any threshold are
// a prefix. The certified range's search (certified_range.cpp) and the cost
// floors (range_floor.hpp) use it in place of selection and sorting: at
// L = 8192, d = 4 (llm), nth_element over the norms was a quarter of the range.
#include <Eigen/Core>

#include <vector>

namespace lorafgc::lora::detail {

class NormBuckets {
 public:
  using Index = Eigen::Index;
  // norms: finite and >= 0.
  explicit NormBuckets(const Eigen::VectorXd& norms);
  NormBuckets() : NormBuckets(Eigen::VectorXd()) {}
  Index size() const { return static_cast<Index>(order_.size()); }
  double max_norm() const { return top_; }
  // The rows by bucket, longest bucket first (within a bucket, by row).
  const std::vector<Index>& order() const { return order_; }
  // <= the norm of the row at position n of order(), hence <= the (n+1)-th
  // largest norm (the first n + 1 rows all reach it); 0 past the end.
  double at_least_at(Index n) const;
  // >= the norm of every row from position n of order() on; 0 past the end.
  double at_most_from(Index n) const;
  // The length of the prefix of order() that holds every row with norm >= threshold.
  Index prefix_reaching(double threshold) const;

 private:
  Index bucket_at(Index n) const;  // the bucket holding position n < size()
  double lower_edge(Index bucket) const;
  double upper_edge(Index bucket) const;

  double top_ = 0;
  unsigned long long top_key_ = 0;
  Index buckets_ = 1;
  bool clamped_ = false;  // norms over 1024 buckets below the largest share the last
  std::vector<Index> order_;
  std::vector<Index> start_;  // start_[b]: where bucket b (0 the longest) begins in order_; start_[buckets_] = size
};

}  // namespace lorafgc::lora::detail
