// The extension module lorafgc._lorafgc, one submodule per workload (core,
// lora, looped, icl); the Python package lorafgc (python/lorafgc/) re-exports
// them as lorafgc.lora, lorafgc.looped, lorafgc.icl.
#include "attention_bindings.hpp"
#include "core_bindings.hpp"
#include "icl_bindings.hpp"
#include "looped_bindings.hpp"
#include "lora_bindings.hpp"

#include <lorafgc/core/heap.hpp>

PYBIND11_MODULE(_lorafgc, m) {
  m.doc() = "lorafgc's compiled core; import lorafgc instead.";
  lorafgc::retain_freed_memory();  // for this process, PyTorch's tensors too (docs/heap.md)
  using namespace lorafgc::python;
  auto core = m.def_submodule("core", "Threads and the machine description.");
  auto lora = m.def_submodule("lora", "LoRA attention gradients: exact and approximate algorithms from one registry.");
  auto looped = m.def_submodule("looped", "Looped linear transformers learning preconditioned GD.");
  auto icl = m.def_submodule("icl", "In-context deep learning: the explicit ICGD transformer.");
  bind_core(core);
  bind_lora(lora);
  bind_attention(lora);
  bind_looped(looped);
  bind_icl(icl);
}
