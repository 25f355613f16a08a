#pragma once
// Internal to icl: the network on the transposed data, one example per column
// (Xt: d x n, Yt: d_out x n), as the paper writes p(j) and as the batched
// products want it. The public functions (network.hpp) take examples as rows,
// check them and transpose once; projected GD transposes once per run, not
// once per step.
#include <lorafgc/icl/network.hpp>

namespace lorafgc::icl::detail {

Eigen::MatrixXd predict_columns(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                                const Eigen::MatrixXd& Xt);
Eigen::VectorXd loss_gradient_columns(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                                      const Eigen::MatrixXd& Xt, const Eigen::MatrixXd& Yt);

}  // namespace lorafgc::icl::detail
