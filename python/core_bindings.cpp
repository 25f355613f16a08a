// What every workload's Python side shares: threads, the machine description,
// and the exception for results that cannot be represented.
#include "core_bindings.hpp"

#include "arguments.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>

#include <string>

namespace lorafgc::python {

namespace py = pybind11;

void bind_core(py::module_& m) {
  py::register_exception<NumericalError>(m, "NumericalError", PyExc_ArithmeticError);
  m.def(
      "set_num_threads", [](const py::handle& threads) { set_threads(int(count_arg(threads, "threads", Quantity::threads))); },
      py::arg("threads"), "OpenMP and OpenBLAS threads (0 keeps the current ones).");
  m.def(
      "system_info",
      [] {
        py::dict d;
        for (const auto& f : describe_machine().fields())
          d[f.key.c_str()] = f.numeric ? py::object(py::int_(std::stoll(f.text))) : py::object(py::str(f.text));
        return d;
      },
      "CPU, vector width, memory, BLAS build and threads, build: what a measurement record carries.");
}

}  // namespace lorafgc::python
