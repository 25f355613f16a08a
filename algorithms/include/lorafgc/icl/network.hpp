#pragma once
// The N-layer network of Wu et al. (ICML 2025), Definition 1, and its exact
// gradient by the paper's Lemma 1 decomposition. Layer j maps p(j-1) to
// p(j)[k] = r(v_jk^T p(j-1)); p(0) = x in R^d, hidden layers have width K and
// the output layer, which also applies r, has d_out units (the paper takes
// d_out = d; its experiments use d_out = 1). The parameters are stacked as in
// (3.2): w = [v_11; ...; v_1K; ...; v_N1; ...; v_N,d_out].
//
// Loss: L_n(w) = 1/(2n) sum_i l(f(w, x_i), y_i) with l(t, y) = ||t - y||^2, so
// u(t, y) = dl/dt = 2 (t - y).
//
// Examples are rows, as in every workload: X is n x d, Y is n x d_out. (The
// computation runs on the transposes, one example per column, as the paper
// writes p(j); the ICGD transformer's tokens are columns too.)
#include <lorafgc/icl/activation.hpp>

#include <lorafgc/core/eigen.hpp>

#include <vector>

namespace lorafgc::icl {

struct NetworkShape {
  int layers = 3;  // N >= 1
  int width = 8;   // K, hidden width
  int input_dim = 20;   // d
  int output_dim = 1;   // d_out

  void validate() const;                  // InvalidArgument naming N, K, d or d_out
  int fan_in(int j) const;                // inputs of layer j (1-based): d for j = 1, else K
  int units(int j) const;                 // outputs of layer j: K for j < N, d_out for j = N
  Eigen::Index offset(int j) const;       // D_{j-1}: where layer j's parameters start in w
  Eigen::Index parameter_count() const;   // D_N = dK + (N-2)K^2 + K d_out (N >= 2)
};

// Layer j's parameters as a units(j) x fan_in(j) matrix whose row k is v_jk^T.
Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> layer_matrix(
    const NetworkShape& shape, const Eigen::VectorXd& w, int j);

// f(w, x) for every row of X: n x d_out.
Eigen::MatrixXd predict(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                        const Eigen::MatrixXd& X);

double empirical_loss(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                      const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y);

// grad L_n(w) = 1/(2n) sum_i [A_i(1); ...; A_i(N)] with A_i(j) = (I (x) p_i(j-1)) s_i(j),
// s_i(N) = r'_i(N-1) (.) u(p_i(N), y_i), s_i(j) = r'_i(j-1) (.) (V_{j+1}^T s_i(j+1)).
// Batched over the examples: one matrix product per layer and direction.
Eigen::VectorXd loss_gradient(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                              const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y);

// Checks X (n x d, finite, n >= 1), Y (n x d_out, finite) and w
// (parameter_count, finite); InvalidArgument names "X", "Y" or "w".
void validate_data(const NetworkShape& shape, const Eigen::VectorXd& w, const Eigen::MatrixXd& X,
                   const Eigen::MatrixXd& Y);

}  // namespace lorafgc::icl
