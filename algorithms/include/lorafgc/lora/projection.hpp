#pragma once
// The three projections of one attention head, and which of them carry LoRA
// adapters.
#include <array>
#include <string>

namespace lorafgc::lora {

// Indexes every per-projection std::array (weights, adapters, gradients).
enum class Projection : int { Q = 0, K = 1, V = 2 };
inline constexpr std::array<Projection, 3> kProjections{Projection::Q, Projection::K, Projection::V};
inline constexpr int index(Projection p) { return static_cast<int>(p); }
inline const char* key(Projection p) {
  static const char* keys[] = {"q", "k", "v"};
  return keys[index(p)];
}

// partial: W_Q and W_V adapted (the paper's Theorem 3.1); full: W_Q, W_K, W_V.
enum class Adaptation { Partial, Full };
Adaptation parse_adaptation(const std::string& text);
const char* to_string(Adaptation a);

}  // namespace lorafgc::lora
