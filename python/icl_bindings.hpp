#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// icl_predict, icl_loss, icl_gradient, icl_projected_gd, IcgdTransformer:
// the in-context deep-learning workload (issue 6).
void bind_icl(pybind11::module_& m);
}  // namespace lorafgc::python
