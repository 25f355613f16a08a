#pragma once
// The one interface every LoRA gradient algorithm implements. An algorithm is
// made from its registration (registry.hpp) and a spec string; its options
// are those its registration declares.
#include <lorafgc/core/option_table.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>

#include <string>
#include <vector>

namespace lorafgc::lora {

struct AttentionShape;  // lorafgc/lora/attention.hpp
template <class T>
struct AttentionForwardIO;
template <class T>
struct AttentionBackwardIO;
class Collectives;   // lorafgc/lora/sequence_parallel.hpp
struct ShardLayout;  // lorafgc/lora/sequence_parallel.hpp

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  const std::string& name() const { return name_; }
  const OptionValues& options() const { return options_; }
  // The spec that rebuilds this algorithm with the same options.
  std::string spec() const;

  virtual Gradients<float> compute(const Problem<float>& problem) const = 0;
  virtual Gradients<double> compute(const Problem<double>& problem) const = 0;

  // The cost model (cost_model.hpp): flops performed (a multiply-add counts 2),
  // exponentials and bytes streamed beyond the caches for this shape; NaN counts
  // when they depend on something the shape does not fix. Used for GFLOP/s
  // counters, time-limit skips and predicted times.
  virtual Cost cost(const ProblemShape& shape, int scalar_bytes) const = 0;
  double flops(const ProblemShape& shape) const { return cost(shape, 4).flops; }
  // The cost on this instance, planned as a run plans it but without running:
  // cost() for its shape, unless the plan depends on the data (the polynomial's
  // certified range, poly-hybrid's outliers). The caller has validated the
  // problem and passes shape_of(problem) (with its score bound), computed once
  // for all the algorithms it compares (auto, lora/auto_select).
  virtual Cost instance_cost(const Problem<float>& problem, const ProblemShape& shape) const;
  virtual Cost instance_cost(const Problem<double>& problem, const ProblemShape& shape) const;
  // Lower bounds on instance_cost, cheaper to compute: whatever the data makes
  // of the plan, its cost is componentwise at least one of these. auto's plan
  // costs an algorithm on the instance only while the best prediction among
  // these can still beat the best it has (lora/auto_select). Empty: no cheap
  // bound (the plan costs it). Default: { instance_cost } itself. With a
  // plain form (Registration::plain_form), the first is the plain case's floor
  // (infinite when that case is refused) and the rest bound every other case.
  virtual std::vector<Cost> cost_floors(const Problem<float>& problem, const ProblemShape& shape) const;
  virtual std::vector<Cost> cost_floors(const Problem<double>& problem, const ProblemShape& shape) const;
  // One-time setup that a first call on this shape would otherwise do inside
  // its timing (auto: the cost model's calibrations); the sweep and the
  // benchmarks call it before timing.
  virtual void prepare(const ProblemShape&, int /*scalar_bytes*/) const {}
  // Bytes allocated beyond the inputs and the returned gradients.
  virtual double workspace_bytes(const ProblemShape& shape, int scalar_bytes) const = 0;

  // Attention on Q, K, V with an upstream gradient (lorafgc/lora/attention.hpp,
  // whose free functions validate the arguments first). Default: refused,
  // naming the algorithm.
  virtual void attention_forward(const AttentionShape& shape, const AttentionForwardIO<float>& io) const;
  virtual void attention_forward(const AttentionShape& shape, const AttentionForwardIO<double>& io) const;
  virtual void attention_backward(const AttentionShape& shape, const AttentionBackwardIO<float>& io) const;
  virtual void attention_backward(const AttentionShape& shape, const AttentionBackwardIO<double>& io) const;
  // This process's part of a sequence-parallel run (sequence_parallel_gradients,
  // which agrees the layout and checks the shards first): the gradients of the
  // whole problem. Default: refused, naming the algorithm.
  virtual Gradients<float> compute_shard(const Problem<float>& shard, const ShardLayout& layout,
                                         Collectives& comm) const;
  virtual Gradients<double> compute_shard(const Problem<double>& shard, const ShardLayout& layout,
                                          Collectives& comm) const;
  // The cost of attention_forward and attention_backward on these queries and
  // keys, counted as for the LoRA problem of the same shape (problem_shape:
  // attention_problem_shape, lorafgc/lora/attention.hpp): cost(problem_shape)
  // unless the plan depends on the data (the polynomial's certified range,
  // poly-hybrid's exact rows). auto's attention plan compares these.
  virtual Cost attention_cost(const ProblemShape& problem_shape, const AttentionShape& shape, const float* q,
                              const float* k) const;
  virtual Cost attention_cost(const ProblemShape& problem_shape, const AttentionShape& shape, const double* q,
                              const double* k) const;

 protected:
  Algorithm(std::string name, OptionValues options) : name_(std::move(name)), options_(std::move(options)) {}

 private:
  std::string name_;
  OptionValues options_;
};

// The conventional count the issue tracker uses: 2 L^2 d flops per L x L x d
// product, 5 products for partial adaptation (K not adapted), 6 for full.
double nominal_exact_flops(const ProblemShape& shape);

}  // namespace lorafgc::lora
