#pragma once
// The three layer types of Wu et al. (ICML 2025), Appendix B.1 and Definition 6,
// acting on a D x T token matrix H (one token per column), each residual:
//   ReLU attention:  h_i + (1/T) sum_heads sum_s relu(<Q h_i, K h_s>) V h_s
//   MLP:             h_i + W2 relu(W1 h_i)
//   element-wise multiplication (EWML):  h_i + sum_heads <Q h_i, K h_i> V h_i
// The paper writes Q, K, V as D x D matrices. The construction's matrices are
// almost all zero, so a head stores Q and K as sparse (head_dim x D) matrices
// (the zero rows of the D x D form dropped) and V as a sparse map from the
// token to the few output coordinates it writes. The arithmetic is the
// layer's definition; only zeros are skipped.
#include <lorafgc/core/eigen.hpp>
#include <Eigen/SparseCore>

#include <string>
#include <vector>

namespace lorafgc::icl {

using SparseRows = Eigen::SparseMatrix<double, Eigen::RowMajor>;

struct Head {
  SparseRows query;              // head_dim x D
  SparseRows key;                // head_dim x D
  std::vector<int> value_rows;   // token coordinates V writes
  SparseRows value;              // value_rows.size() x D
};

// A monitor, not part of the arithmetic: z(i) = <Q h_i, K h_i> must satisfy
// |z| <= bound, the range a ReLU sum of the layer was fitted on. A violation
// raises NumericalError naming the layer and the guard.
struct RangeGuard {
  SparseRows query, key;  // m x D each; z is the inner product of their images
  double bound = 0;
  std::string what;
};

enum class LayerKind { relu_attention, mlp, elementwise_multiplication };
std::string layer_kind_name(LayerKind kind);

struct Layer {
  LayerKind kind = LayerKind::relu_attention;
  std::string role;             // e.g. "forward 2", "update"
  std::vector<Head> heads;      // attention and EWML
  SparseRows w1;                // MLP: hidden x D
  Eigen::SparseMatrix<double> w2;  // MLP: D x hidden
  std::vector<RangeGuard> guards;

  int hidden() const { return int(w1.rows()); }
};

// One layer applied to H (D x T). Checks the guards on H first.
Eigen::MatrixXd apply_layer(const Layer& layer, const Eigen::MatrixXd& H);

// Floating-point operations apply_layer performs on `tokens` tokens (multiply-adds
// count 2), and those of the same layer with dense D x D matrices per head (or
// dense W1, W2), the form the paper states.
double layer_flops(const Layer& layer, Eigen::Index D, Eigen::Index tokens);
double dense_layer_flops(const Layer& layer, Eigen::Index D, Eigen::Index tokens);

}  // namespace lorafgc::icl
