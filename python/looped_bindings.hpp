#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// train_looped, looped_gd_reference, looped_test_losses, looped_forward,
// anisotropic_covariance: the looped-transformer workload (issue 5).
void bind_looped(pybind11::module_& m);
}  // namespace lorafgc::python
