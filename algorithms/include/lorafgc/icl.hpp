#pragma once
// lorafgc icl workload: in-context deep learning (Wu et al., ICML 2025): the
// N-layer network with its Lemma-1 gradient, projected GD, sums of ReLUs, the
// three layer types and the explicit (2N+4)L-layer ICGD transformer.
#include <lorafgc/core.hpp>
#include <lorafgc/icl/activation.hpp>
#include <lorafgc/icl/icgd_transformer.hpp>
#include <lorafgc/icl/network.hpp>
#include <lorafgc/icl/projected_gd.hpp>
#include <lorafgc/icl/relu_sum.hpp>
#include <lorafgc/icl/transformer_layers.hpp>
