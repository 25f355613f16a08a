// Uses the installed library as a project outside lorafgc would: a generated
// LoRA instance's gradients by exact and exact-reference, and attention with an
// upstream gradient; prints the agreement and exits non-zero when it is off.
#include <lorafgc/lora.hpp>

#include <cmath>
#include <iostream>
#include <vector>

int main() {
  using namespace lorafgc::lora;
  GeneratorConfig c;
  c.length = 100;
  c.width = 8;
  c.rank = 2;
  const Problem<double> p = generate<double>(c);
  const ErrorMetrics e =
      compare_gradients(make_algorithm("exact")->compute(p), make_algorithm("exact-reference")->compute(p));

  AttentionShape s;
  s.batch = 2;
  s.heads = 3;
  s.length = 50;
  s.head_dim = 4;
  s.causal = true;
  s.scale = 0.5;
  const std::size_t n = static_cast<std::size_t>(s.elements());
  std::vector<double> q(n), k(n), v(n), d_out(n), lse(static_cast<std::size_t>(s.sequences() * s.length));
  for (std::size_t i = 0; i < n; ++i) {
    q[i] = std::sin(0.1 * i), k[i] = std::cos(0.07 * i), v[i] = std::sin(0.03 * i + 1), d_out[i] = std::cos(0.11 * i);
  }
  double worst = 0;
  std::vector<std::vector<double>> results;
  for (const char* spec : {"exact", "exact-reference"}) {
    std::vector<double> out(n), dq(n), dk(n), dv(n);
    const auto algorithm = make_algorithm(spec);
    attention_forward<double>(*algorithm, s, {q.data(), k.data(), v.data(), out.data(), lse.data()});
    attention_backward<double>(*algorithm, s, {q.data(), k.data(), v.data(), out.data(), lse.data(), d_out.data(),
                                               dq.data(), dk.data(), dv.data()});
    for (auto* x : {&out, &dq, &dk, &dv}) results.push_back(*x);
  }
  for (std::size_t t = 0; t < 4; ++t)
    for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(results[t][i] - results[t + 4][i]));
  std::cout << "consumer: kernel target " << kernel_target() << ", LoRA gradients max_rel " << e.max_rel
            << ", attention max |exact - exact-reference| " << worst << "\n";
  return e.max_rel < 1e-12 && worst < 1e-12 ? 0 : 1;
}
