#pragma once
// Scalar arguments from Python, strictly: an integer is a Python or numpy
// integer (not a bool, not a float such as 64.5), a real number is an int or a
// float (not a bool, not a string); anything else, or an integer out of range,
// is a ValueError naming the argument, before the library sees it.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>

#include <pybind11/pybind11.h>

#include <limits>
#include <string>

namespace lorafgc::python {

namespace py = pybind11;

inline std::string type_name(const py::handle& v) { return py::str(py::type::handle_of(v).attr("__name__")); }

inline long long integer_arg(const py::handle& v, const std::string& name,
                             long long min = std::numeric_limits<long long>::min(),
                             long long max = std::numeric_limits<long long>::max()) {
  if (PyBool_Check(v.ptr()) || !PyIndex_Check(v.ptr()))
    throw InvalidArgument(name, "expected an integer, got " + type_name(v) + " " + py::repr(v).cast<std::string>());
  const py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr()));
  int overflow = 0;
  const long long value = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow != 0 || value < min || value > max)
    throw InvalidArgument(name, "must lie in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                                    py::repr(v).cast<std::string>());
  return value;
}

// An integer within the limit table's range for q (core/limits.hpp).
inline long long count_arg(const py::handle& v, const std::string& name, Quantity q) {
  const long long value = integer_arg(v, name);
  require_count(name, value, q);
  return value;
}

inline std::uint64_t seed_arg(const py::handle& v, const std::string& name = "seed") {
  return static_cast<std::uint64_t>(integer_arg(v, name, 0));
}

inline double real_arg(const py::handle& v, const std::string& name) {
  if (PyBool_Check(v.ptr()) || !(PyFloat_Check(v.ptr()) || PyIndex_Check(v.ptr()) || py::hasattr(v, "__float__")) ||
      PyUnicode_Check(v.ptr()))
    throw InvalidArgument(name, "expected a real number, got " + type_name(v) + " " + py::repr(v).cast<std::string>());
  return py::float_(py::reinterpret_borrow<py::object>(v)).cast<double>();
}

}  // namespace lorafgc::python
