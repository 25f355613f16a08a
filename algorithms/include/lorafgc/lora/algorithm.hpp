#pragma once
// The one interface every gradient algorithm implements. New algorithms are
// added to the registry (registry.cpp) and nowhere else.
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>

#include <memory>
#include <string>

namespace lorafgc {

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;
  // The spec that rebuilds this algorithm with the same options.
  virtual std::string spec() const = 0;

  virtual Gradients<float> compute(const Problem<float>& problem) const = 0;
  virtual Gradients<double> compute(const Problem<double>& problem) const = 0;

  // Floating-point operations the implementation performs for this shape
  // (a multiply-add counts 2); used for GFLOP/s counters.
  virtual double flops(const ProblemShape& shape) const = 0;
  // Bytes allocated beyond the inputs and the returned gradients.
  virtual double workspace_bytes(const ProblemShape& shape, int scalar_bytes) const = 0;
};

// The conventional count the issue tracker uses: 2 L^2 d flops per L x L x d
// product, 5 products for partial adaptation (K not adapted), 6 for full.
double nominal_exact_flops(const ProblemShape& shape);

}  // namespace lorafgc
