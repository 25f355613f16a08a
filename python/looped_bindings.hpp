#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// train, gd_reference, test_losses, forward, anisotropic_covariance: the
// looped-transformer workload (lorafgc.looped).
void bind_looped(pybind11::module_& m);
}  // namespace lorafgc::python
