#pragma once
// numpy <-> Eigen copies shared by the module's binding files. numpy is
// row-major, the library column-major; every malformed array raises
// InvalidArgument (ValueError in Python) naming the argument.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/types.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <sstream>
#include <string>

namespace lorafgc::python {

namespace py = pybind11;

inline py::array as_array(const py::handle& obj, const std::string& name) {
  if (obj.is_none()) throw InvalidArgument(name, "expected an array, got None");
  py::array a = py::array::ensure(obj);
  if (!a) throw InvalidArgument(name, "expected a numpy array");
  return a;
}

inline std::string dtype_of(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline std::string shape_text(const py::array& a) {
  std::ostringstream out;
  out << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) out << (i ? ", " : "") << a.shape(i);
  out << (a.ndim() == 1 ? ",)" : ")");
  return out.str();
}

// Copies a 2-D array of dtype T into a column-major matrix. Strided, Fortran-
// ordered or otherwise non-contiguous input is handled by a C-order copy.
template <class T>
Matrix<T> to_matrix(const py::array& a, const std::string& name) {
  if (!py::isinstance<py::array_t<T>>(a) || a.dtype().kind() != 'f')
    throw InvalidArgument(name, std::string("dtype ") + dtype_of(a) + " differs from X's dtype " +
                                    dtype_name<T>() + " (all arrays must share one dtype)");
  if (a.ndim() != 2) throw InvalidArgument(name, "expected a 2-D array, got shape " + shape_text(a));
  auto c = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
  using Map = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  return Map(c.data(), a.shape(0), a.shape(1));
}

// X and Y may be 2-D (one sequence) or 3-D (batch, L, d).
template <class T>
std::vector<Matrix<T>> to_batch(const py::array& a, const std::string& name) {
  if (a.ndim() == 2) return {to_matrix<T>(a, name)};
  if (a.ndim() != 3)
    throw InvalidArgument(name, "expected shape (L, d) or (batch, L, d), got " + shape_text(a));
  std::vector<Matrix<T>> out;
  py::object item = a.attr("__getitem__");
  for (py::ssize_t b = 0; b < a.shape(0); ++b)
    out.push_back(to_matrix<T>(py::array(item(b)), name + "[" + std::to_string(b) + "]"));
  if (out.empty()) throw InvalidArgument(name, "the batch is empty");
  return out;
}

template <class T>
py::array_t<T> to_numpy(const Matrix<T>& m) {
  py::array_t<T> out({m.rows(), m.cols()});
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.mutable_data(), m.rows(),
                                                                                   m.cols()) = m;
  return out;
}

template <class T>
py::array_t<T> to_numpy(const std::vector<Matrix<T>>& batch, bool three_d) {
  if (!three_d) return to_numpy(batch.front());
  const auto L = batch.front().rows(), d = batch.front().cols();
  py::array_t<T> out({static_cast<Eigen::Index>(batch.size()), L, d});
  for (std::size_t b = 0; b < batch.size(); ++b)
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.mutable_data() + b * L * d,
                                                                                     L, d) = batch[b];
  return out;
}

// Any real array as a float64 matrix; a 1-D array is a column when cols == 1.
// rows/cols < 0: any size.
inline Eigen::MatrixXd to_float64_matrix(const py::handle& obj, const std::string& name, Eigen::Index rows = -1,
                                  Eigen::Index cols = -1) {
  py::array a = as_array(obj, name);
  if (a.dtype().kind() != 'f' && a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    throw InvalidArgument(name, "expected a real array, got dtype " + dtype_of(a));
  if (a.ndim() == 1 && cols == 1) a = a.attr("reshape")(-1, 1);
  if (a.ndim() != 2) throw InvalidArgument(name, "expected a 2-D array, got shape " + shape_text(a));
  if ((rows >= 0 && a.shape(0) != rows) || (cols >= 0 && a.shape(1) != cols))
    throw InvalidArgument(name, "expected shape (" + std::to_string(rows) + ", " + std::to_string(cols) +
                                    "), got " + shape_text(a));
  auto c = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
  using Map = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  return Map(c.data(), a.shape(0), a.shape(1));
}

inline py::array_t<double> to_numpy_vector(const std::vector<double>& v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

inline py::array_t<double> to_numpy_vector(const Eigen::VectorXd& v) {
  return to_numpy_vector(std::vector<double>(v.data(), v.data() + v.size()));
}

}  // namespace lorafgc::python
