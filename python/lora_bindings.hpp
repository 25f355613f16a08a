#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// gradients, generate, algorithms: the LoRA-gradient workload (lorafgc.lora).
void bind_lora(pybind11::module_& m);
}  // namespace lorafgc::python
