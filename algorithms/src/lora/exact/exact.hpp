#pragma once
// exact: the strong quadratic baseline. No L x L matrix exists: queries are
// processed in row blocks, and the L x L blocks meet only products of width d
// (S, O, R V^T) or of width r (everything the adapter gradients need, after
// contracting with the thin factors first). OpenMP over row blocks, BLAS inside.
//
// Two schedules, selectable so that they can be measured against each other:
//  - panel:  a row block's whole b x L panel of scores is kept, so softmax is
//            exact in one pass and nothing is recomputed: L^2 (3d + 2r per
//            adapter) multiply-adds.
//  - stream: FlashAttention-2's backward: column tiles of b x c, an online
//            softmax in a forward sweep, then S recomputed in a backward sweep:
//            L^2 d more multiply-adds, but every tile stays in L1/L2.
//  - fused:  the stream schedule's work, each tile done by one vector kernel
//            (fused_kernel.hpp: scores, exp and every product while the tile
//            is in cache; Highway, dispatched at run time) instead of a chain
//            of BLAS calls and Eigen passes over the tile.
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

namespace lorafgc::lora {

enum class ExactSchedule { Panel, Stream, Fused, Auto };
ExactSchedule parse_exact_schedule(const std::string& text);
const char* to_string(ExactSchedule s);

struct ExactConfig {
  ExactSchedule schedule = ExactSchedule::Auto;  // auto: exact_schedule_for(d, L)
  long long block_rows = 64;         // b: queries per row block
  long long panel_bytes = 16 << 20;  // panel: b is lowered so one b x L panel fits this
  long long tile_cols = 256;         // stream, fused: keys per column tile (fused: a multiple of 64)
  bool recompute = false;            // fused: recompute S and exp in the backward instead of keeping E
                                     // (kept only while b x L fits panel_bytes)
  int threads = 0;                   // 0: OpenMP's default
  bool weights = false;              // also return the d x d weight gradients
};

// The schedule auto picks for head width d and length L (measured; see exact.cpp), and a
// config with auto replaced by it.
ExactSchedule exact_schedule_for(long long width, long long length);
ExactConfig resolved(ExactConfig config, long long width, long long length);

// `problem` is validated by the caller (detail::Registered).
template <class T>
Gradients<T> exact_gradients(const Problem<T>& problem, const ExactConfig& config);
// This process's part of a sequence-parallel run (lorafgc/lora/sequence_parallel.hpp).
template <class T>
Gradients<T> exact_gradients_shard(const Problem<T>& shard, const ShardLayout& layout, Collectives& comm,
                                   const ExactConfig& config);

// Attention on Q, K, V (lorafgc/lora/attention.hpp; validated by the caller):
// the fused kernels for every width, OpenMP over (sequence, row block) in the
// forward; the backward gives whole sequences to threads while there are at
// least as many as threads, else row blocks with per-thread key sums.
template <class T>
void exact_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io, const ExactConfig& config);
template <class T>
void exact_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io,
                              const ExactConfig& config);

// The cost model. Sum of the right-hand widths of the L x L products the
// schedule performs (panel and fused: 3d + 4r partial, 3d + 6r full; stream and
// fused with recompute: d more);
// flops = 2 L^2 width.
double exact_product_width(const ProblemShape& shape, ExactSchedule schedule, bool recompute = false);
Cost exact_cost(const ProblemShape& shape, int scalar_bytes, const ExactConfig& config);
double exact_workspace_bytes(const ProblemShape& shape, int scalar_bytes, const ExactConfig& config);
// fused: whether a block's E (rows x length) is kept for the backward sweep.
bool fused_keeps_exp(const ExactConfig& config, long long rows, long long length, int scalar_bytes);
// Rows per block after the panel-size cap (a resolved config).
long long exact_block_rows(const ExactConfig& config, long long length, int scalar_bytes);

}  // namespace lorafgc::lora
