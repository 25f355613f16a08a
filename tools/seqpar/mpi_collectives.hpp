#pragma once
// Collectives (lorafgc/lora/sequence_parallel.hpp) over MPI_COMM_WORLD, with
// what each process sends and receives counted, and the time spent inside the
// calls. Counts are the payload each call moves for this process (a sum of n
// values: n sent and n received; a gather: its own block sent, everyone
// else's received), not the wire bytes of MPI's algorithm (a ring all-reduce
// moves 2 (P - 1) / P of the payload each way; docs/sequence-parallel.md).
#include <lorafgc/lora/sequence_parallel.hpp>

namespace lorafgc::seqpar {

struct Traffic {
  double bytes_sent = 0, bytes_received = 0, seconds = 0;
  long long calls = 0;
};

class MpiCollectives final : public lora::Collectives {
 public:
  MpiCollectives();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(double* values, std::size_t n) override;
  void sum(float* values, std::size_t n) override;
  void max(double* values, std::size_t n) override;
  void gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) override;

  const Traffic& traffic() const { return traffic_; }
  void reset() { traffic_ = {}; }

 private:
  int rank_ = 0, size_ = 1;
  Traffic traffic_;
};

}  // namespace lorafgc::seqpar
