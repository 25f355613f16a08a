#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// attention_forward, attention_backward: attention on Q, K, V with an upstream
// gradient (lorafgc.lora; lorafgc.torch wraps them as an autograd Function).
void bind_attention(pybind11::module_& m);
}  // namespace lorafgc::python
