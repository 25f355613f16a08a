#pragma once
// lorafgc LoRA workload: gradients of a LoRA-adapted attention head, exact and
// approximate, from one registry.
//
//   Problem<float> p = generate<float>(config);          // or fill a Problem yourself
//   auto algorithm = make_algorithm("poly-cheb:eps=1e-3");
//   Gradients<float> g = algorithm->compute(p);          // g.loss, g.adapter[index(Projection::Q)]->dB, ...
//   ErrorMetrics e = compare_gradients(g, make_algorithm("exact")->compute(p));
//
// The mathematics and every symbol: docs/lora-gradients.md. The algorithms'
// internals live in algorithms/src/lora/<family>/ and are not part of this API.
#include <lorafgc/core.hpp>
#include <lorafgc/lora/algorithm.hpp>
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>
#include <lorafgc/lora/projection.hpp>
#include <lorafgc/lora/registry.hpp>
#include <lorafgc/lora/score_range.hpp>
