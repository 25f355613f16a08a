// exact in the registry: its options, accuracy and variants.
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/common/error_models.hpp"
#include "lora/common/registered.hpp"
#include "lora/exact/exact.hpp"

namespace lorafgc::lora {

namespace {

class Exact final : public detail::Registered<Exact> {
 public:
  explicit Exact(const OptionValues& o) : Registered("exact", o) {
    c_.schedule = parse_exact_schedule(o.choice("schedule"));
    c_.block_rows = o.integer("block");
    c_.panel_bytes = o.integer("panel_mb") << 20;
    c_.tile_cols = o.integer("tile");
    c_.recompute = o.boolean("recompute");
    c_.threads = static_cast<int>(o.integer("threads"));
    c_.weights = o.boolean("weights");
  }
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    return exact_gradients(p, c_);
  }
  template <class T>
  Gradients<T> run_shard(const Problem<T>& shard, const ShardLayout& layout, Collectives& comm) const {
    return exact_gradients_shard(shard, layout, comm, c_);
  }
  Cost cost(const ProblemShape& s, int scalar_bytes) const override { return exact_cost(s, scalar_bytes, c_); }
  double workspace_bytes(const ProblemShape& s, int scalar_bytes) const override {
    return exact_workspace_bytes(s, scalar_bytes, c_);
  }
  template <class T>
  void attend(const AttentionShape& s, const AttentionForwardIO<T>& io) const {
    exact_attention_forward(s, io, c_);
  }
  template <class T>
  void attend(const AttentionShape& s, const AttentionBackwardIO<T>& io) const {
    exact_attention_backward(s, io, c_);
  }

 private:
  ExactConfig c_;
};

}  // namespace

namespace families {

std::vector<Registration> exact() {
  Registration r;
  r.name = "exact";
  r.description =
      "Exact, fused row blocks: no L x L matrix, O(L d) extra memory, LoRA-contracted products "
      "(L^2 (3d + 2r per adapter) multiply-adds), OpenMP over row blocks, BLAS inside.";
  r.exact = true;
  // exact and exact-reference evaluate the same formulas in another order, so
  // they differ by rounding only: each entry is a sum of O(L) products, whose
  // forward error is about c L u relative to the sizes of the terms. For L <= 512
  // and entries of X W of order 1 that is < 1e-13 relative to max|G| in double
  // and < 2e-5 in float; a formula error shows at order 1.
  r.accuracy = {Accuracy::Guarantee::rounding, 1e-4, 1e-12, ""};
  r.options = {
      choice_option("schedule", {"auto", "panel", "stream", "fused"},
                    "auto: the fastest measured for the shape (fused for d <= 48; wider: panel up to L = 2048, else fused); "
                    "panel: whole b x L score panels; stream: FlashAttention-2-style column tiles with recomputation; "
                    "fused: column tiles, each done by one vector kernel (runtime-dispatched SIMD)"),
      integer_option("block", 64, at_least(1), "queries per row block (panel: lowered to respect panel_mb)"),
      integer_option("panel_mb", 16, at_least(1),
                     "panel: upper bound on one b x L panel, in MiB; fused: keeps its exponentials up to this"),
      integer_option("tile", 256, at_least(1), "stream, fused: keys per column tile (fused: rounded up to 64)"),
      boolean_option("recompute", false,
                     "fused: recompute scores and exp in the backward sweep instead of keeping the forward's b x L "
                     "exponentials (kept only while they fit panel_mb)"),
      integer_option("threads", 0, between(0, static_cast<double>(limit(Quantity::threads).max)),
                     "OpenMP threads, and the BLAS calls inside the run (0: the current default)"),
      boolean_option("weights", false, "also return the full d x d weight gradients"),
  };
  r.variants = {"exact", "exact:schedule=panel", "exact:schedule=stream", "exact:schedule=fused"};
  r.make = [](const OptionValues& o) { return std::make_unique<Exact>(o); };
  r.error_model = detail::rounding_error_model();
  return {r};
}

}  // namespace families

}  // namespace lorafgc::lora
