#pragma once
#include <pybind11/pybind11.h>

namespace lorafgc::python {
// set_num_threads, system_info, NumericalError: what every workload shares
// (lorafgc.core, and lorafgc's top level).
void bind_core(pybind11::module_& m);
}  // namespace lorafgc::python
