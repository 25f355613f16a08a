#pragma once
// Internal pieces of the ICGD transformer's construction, one file each:
// the a-priori bounds and fits (icgd_bounds.cpp) and the layer builders
// (icgd_layers.cpp).
#include <lorafgc/icl/icgd_transformer.hpp>

namespace lorafgc::icl::detail {

// Ranges and error budget for fit errors tau_r (r) and tau_rp (r').
IcgdBounds compute_bounds(const IcgdConfig& config, double tau_r, double tau_rp);

struct Fits {
  ReluSum r, r_prime;
  IcgdBounds bounds;  // computed with the fits' own error bounds; fit_range = where they were fitted
};
Fits fit_activation_sums(const IcgdConfig& config);

TokenLayout make_layout(const NetworkShape& shape);

Layer forward_layer(const IcgdConfig& c, const TokenLayout& t, const Fits& f, int j, const std::string& role);
Layer r_prime_layer(const IcgdConfig& c, const TokenLayout& t, const Fits& f);
Layer loss_derivative_layer(const IcgdConfig& c, const TokenLayout& t, const Fits& f);
Layer backward_layer(const IcgdConfig& c, const TokenLayout& t, int j);
Layer update_layer(const IcgdConfig& c, const TokenLayout& t);
Layer projection_layer(const IcgdConfig& c, const TokenLayout& t);

}  // namespace lorafgc::icl::detail
