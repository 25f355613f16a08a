#pragma once
// Direct training: projected gradient descent on L_n over the bounded domain
//     W = { w : |w_m| <= b for every entry }   (a box of half-width b = radius).
// W lies inside the paper's (3.4) set { ||v_jk||_2 <= B_v } with
// B_v = b sqrt(fan_in). The box is chosen over the Euclidean ball because its
// projection, entry-wise clipping, is exactly a two-ReLU-per-entry MLP, so the
// transformer's projection layer adds no error; a ReLU MLP can only
// approximate the projection onto a ball.
#include <lorafgc/icl/network.hpp>

#include <vector>

namespace lorafgc::icl {

Eigen::VectorXd project_to_box(const Eigen::VectorXd& w, double radius);

// w^0 = w0, w^{l+1} = Proj_W(w^l - eta grad L_n(w^l)); returns w^0..w^steps.
// InvalidArgument names eta, radius, steps or w0 (outside W, wrong size, NaN).
std::vector<Eigen::VectorXd> projected_gd(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w0,
                                          const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y, double eta,
                                          double radius, int steps);

void validate_step(double eta, double radius);  // InvalidArgument("eta"/"radius")

}  // namespace lorafgc::icl
