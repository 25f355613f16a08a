#pragma once
// Attention at the level of Q, K and V (docs/attention-backend.md): the output
// O = softmax(scale Q K^T [+ causal mask]) V of every (batch, head) sequence,
// and the backward for any upstream gradient dO: dQ, dK, dV. The squared loss
// of the LoRA problems is the case dO = O - Y.
//
// Tensors are (batch, heads, length, head_dim), row-major and contiguous:
// entry [b][h][i][c] at ((b heads + h) length + i) head_dim + c. The row
// statistics lse (batch, heads, length) are log sum_j exp(scale S_ij) over the
// keys row i sees: the forward writes them, the backward reads them, so that
// it never repeats the forward's softmax.
#include <lorafgc/lora/algorithm.hpp>

#include <map>
#include <string>

namespace lorafgc::lora {

struct AttentionShape {
  long long batch = 1, heads = 1, length = 0, head_dim = 0;
  bool causal = false;  // query i sees keys j <= i only
  double scale = 1.0;   // the scores' factor: softmax(scale Q K^T)

  long long sequences() const { return batch * heads; }
  long long elements() const { return sequences() * length * head_dim; }
  // Throws InvalidArgument naming the field: sizes outside the limit table
  // (lorafgc/core/limits.hpp), a scale that is not finite, sizes whose element
  // count overflows.
  void validate() const;
};

// info (optional): what the algorithm reports (the polynomial's degree, rank,
// certified range and a-priori error bounds; docs/attention-backend.md).
using AttentionInfo = std::map<std::string, double>;

template <class T>
struct AttentionForwardIO {
  const T *q = nullptr, *k = nullptr, *v = nullptr;
  T *out = nullptr, *lse = nullptr;
  AttentionInfo* info = nullptr;
};

// out and lse come from the same algorithm's attention_forward on q, k, v.
template <class T>
struct AttentionBackwardIO {
  const T *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr, *lse = nullptr, *d_out = nullptr;
  T *dq = nullptr, *dk = nullptr, *dv = nullptr;
  AttentionInfo* info = nullptr;
};

// The LoRA problem whose gradients cost what attention's forward and backward
// do (docs/attention-backend.md, "auto"): one sequence per (batch, head),
// width head_dim, rank 1, every projection adapted (dQ, dK, dV), and the
// scores' bound |scale| max ||q_i|| max ||k_j|| over the sequences (Cauchy-Schwarz).
template <class T>
ProblemShape attention_problem_shape(const AttentionShape& shape, const T* q, const T* k);

// Validate the shape, the pointers and the inputs' finiteness, then run the algorithm's attention
// (Algorithm::attention_forward / attention_backward). Refused, naming
// "algorithm", for an algorithm that does not compute attention. A result
// that is not finite throws NumericalError naming the algorithm.
template <class T>
void attention_forward(const Algorithm& algorithm, const AttentionShape& shape, const AttentionForwardIO<T>& io);
template <class T>
void attention_backward(const Algorithm& algorithm, const AttentionShape& shape, const AttentionBackwardIO<T>& io);

}  // namespace lorafgc::lora
