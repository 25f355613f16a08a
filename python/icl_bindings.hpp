#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// predict, loss, gradient, projected_gd, IcgdTransformer:
// the in-context deep-learning workload (lorafgc.icl).
void bind_icl(pybind11::module_& m);
}  // namespace lorafgc::python
