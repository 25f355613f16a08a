#pragma once
// Seeded instances with a prescribed norm bound: max |(X W_mu)_ij| over the
// batch equals gamma for mu = q, k, v (to rounding of the chosen dtype), from
// one of three instance families.
#include <lorafgc/lora/problem.hpp>

#include <cstdint>
#include <string>

namespace lorafgc::lora {

// How the activations X (and W_k) are drawn; docs/instance-families.md.
//  gaussian:    X with N(0, 1) entries (every earlier instance).
//  llm:         what real attention activations show: a component shared by
//               every token (keys b + g_j), a few heavy-tailed outlier
//               channels, and a decaying spectrum (low effective rank).
//  adversarial: tokens +-u plus a little noise and W_k* = W_q*, so that the
//               scores crowd the two ends of their range, where the
//               polynomial's error is largest.
enum class InstanceFamily { Gaussian, Llm, Adversarial };

std::string family_name(InstanceFamily family);
// InvalidArgument naming "family" for an unknown name.
InstanceFamily parse_family(const std::string& name);

// The llm family's parameters.
struct LlmActivations {
  // The shared component: keys become b + g_j with ||b|| = key_share max_j ||g_j||.
  double key_share = 3.0;
  // Channels of X whose entries are Student-t (3 degrees of freedom), scaled to
  // outlier_scale times the RMS entry of the other channels.
  long long outlier_channels = 2;
  double outlier_scale = 8.0;
  // The centred activations' k-th principal direction has scale (k + 1)^-spectrum_decay.
  double spectrum_decay = 1.0;
};

struct GeneratorConfig {
  long long length = 256;  // L
  long long width = 16;    // d
  long long rank = 4;      // r
  long long batch = 1;
  double gamma = 1.0;      // target max entry of X W_q, X W_k, X W_v
  Adaptation adaptation = Adaptation::Partial;
  // Frobenius share of the LoRA term in each adapted weight:
  // ||s B A||_F / (||W*||_F + ||s B A||_F), in [0, 1).
  double lora_share = 0.25;
  // When > 0: rescale W_q and W_k (frozen and LoRA parts alike) so that the
  // Cauchy-Schwarz score bound T = |beta| max||Q_i|| max||K_j|| equals this
  // instead of hitting gamma (W_v still hits gamma). Sweeps over T use it.
  double score_bound = 0;
  double alpha = 8.0;
  double beta = 1.0;
  std::uint64_t seed = 1;
  InstanceFamily family = InstanceFamily::Gaussian;
  LlmActivations llm;             // used by the llm family
  double adversarial_noise = 0.05;  // adversarial: per-token noise, relative to ||u|| = 1

  // Throws InvalidArgument naming the field: ranges, the limit table
  // (core/limits.hpp) and the memory an instance needs.
  void validate() const;
  double instance_bytes() const;  // what generate() allocates, at most
};

// InvalidArgument naming gamma or score_bound when the instance's entries or
// scores would overflow T. generate() checks it, and checks the instance again
// after rounding to T.
template <class T>
void validate_representable(const GeneratorConfig& config);

template <class T>
Problem<T> generate(const GeneratorConfig& config);

// max_ij |(X W_mu)_ij| over the batch, computed in double.
template <class T>
double projection_max_abs(const Problem<T>& problem, Projection p);

}  // namespace lorafgc::lora
