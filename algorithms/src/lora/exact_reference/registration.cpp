// exact-reference in the registry: the oracle.
#include <lorafgc/lora/registry.hpp>

#include "lora/common/registered.hpp"
#include "lora/exact_reference/exact_reference.hpp"

namespace lorafgc::lora {

namespace {

class ExactReference final : public detail::Registered<ExactReference> {
 public:
  explicit ExactReference(const OptionValues& o) : Registered("exact-reference", o), weights_(o.boolean("weights")) {}
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    return exact_reference_gradients(p, weights_);
  }
  Cost cost(const ProblemShape& s, int scalar_bytes) const override {
    const double pairs = static_cast<double>(s.length) * s.length * s.batch;
    // S, O, dV, R V^T, dQ, dK: six L x L x d products, always; one exp per
    // pair; S, F, dF and dS written once and read about twice each.
    return {6.0 * 2.0 * pairs * s.width, pairs, 12.0 * pairs * scalar_bytes, FlopKind::register_tiled,
            static_cast<double>(s.length) * s.batch};
  }
  double workspace_bytes(const ProblemShape& s, int scalar_bytes) const override {
    return 4.0 * static_cast<double>(s.length) * s.length * scalar_bytes;  // S, F, dF, dS
  }
  template <class T>
  void attend(const AttentionShape& s, const AttentionForwardIO<T>& io) const {
    exact_reference_attention_forward(s, io);
  }
  template <class T>
  void attend(const AttentionShape& s, const AttentionBackwardIO<T>& io) const {
    exact_reference_attention_backward(s, io);
  }

 private:
  bool weights_;
};

}  // namespace

namespace families {

std::vector<Registration> exact_reference() {
  Registration r;
  r.name = "exact-reference";
  r.description = "Materialises the L x L matrices and follows the formulas literally; O(L^2) memory. The oracle.";
  r.exact = true;
  r.oracle = true;
  // Against itself in float64 it differs by the rounding of the dtype it runs
  // in: the analysis of `exact` applies (sums of O(L) products).
  r.accuracy = {Accuracy::Guarantee::rounding, 1e-4, 1e-12, ""};
  r.options = {boolean_option("weights", false, "also return the full d x d weight gradients")};
  r.make = [](const OptionValues& o) { return std::make_unique<ExactReference>(o); };
  return {r};
}

}  // namespace families

}  // namespace lorafgc::lora
