// lorafgc.lora.attention_forward / attention_backward: numpy arrays of shape
// (batch, heads, L, head_dim), passed to the library without a copy when they
// are C-contiguous (one C-order copy otherwise); every malformed argument is a
// ValueError naming it.
#include "attention_bindings.hpp"

#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/registry.hpp>

#include "arguments.hpp"
#include "numpy_conversions.hpp"

#include <pybind11/stl.h>

#include <cmath>
#include <vector>

namespace lorafgc::python {

namespace {

using namespace lorafgc::lora;

template <class T>
using CArray = py::array_t<T, py::array::c_style>;

std::vector<py::ssize_t> dims(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

// q's dtype decides T; every other array must share it.
bool is_double(const py::array& q) {
  if (q.dtype().kind() == 'f' && q.itemsize() == 8) return true;
  if (q.dtype().kind() == 'f' && q.itemsize() == 4) return false;
  throw InvalidArgument("q", "dtype " + dtype_of(q) + " is not float32 or float64");
}

template <class T>
CArray<T> operand(const py::handle& obj, const std::string& name, const std::vector<py::ssize_t>& shape) {
  const py::array a = as_array(obj, name);
  if (!py::isinstance<py::array_t<T>>(a) || a.dtype().kind() != 'f')
    throw InvalidArgument(name, "dtype " + dtype_of(a) + " differs from q's dtype " + dtype_name<T>());
  if (dims(a) != shape) {
    py::array probe = py::array_t<T>(shape);
    throw InvalidArgument(name, "shape " + shape_text(a) + " differs from the expected " + shape_text(probe));
  }
  return CArray<T>::ensure(a);  // a no-op for C-contiguous input
}

AttentionShape shape_of_q(const py::array& q, bool causal, const py::handle& scale) {
  if (q.ndim() != 4) throw InvalidArgument("q", "expected shape (batch, heads, L, head_dim), got " + shape_text(q));
  AttentionShape s;
  s.batch = q.shape(0);
  s.heads = q.shape(1);
  s.length = q.shape(2);
  s.head_dim = q.shape(3);
  s.causal = causal;
  s.scale = scale.is_none() ? 1.0 / std::sqrt(static_cast<double>(std::max<py::ssize_t>(q.shape(3), 1)))
                            : real_arg(scale, "scale");
  s.validate();
  return s;
}

template <class T>
py::tuple forward(const py::array& q_in, const py::handle& k, const py::handle& v, bool causal,
                  const py::handle& scale, const std::string& algorithm) {
  const AttentionShape s = shape_of_q(q_in, causal, scale);
  const auto shape = dims(q_in);
  const CArray<T> q = operand<T>(q_in, "q", shape), kk = operand<T>(k, "k", shape), vv = operand<T>(v, "v", shape);
  const auto algo = make_algorithm(algorithm);
  CArray<T> out(shape), lse(std::vector<py::ssize_t>(shape.begin(), shape.end() - 1));
  AttentionInfo info;
  AttentionForwardIO<T> io{q.data(), kk.data(), vv.data(), out.mutable_data(), lse.mutable_data(), &info};
  {
    py::gil_scoped_release release;
    attention_forward(*algo, s, io);
  }
  return py::make_tuple(out, lse, info);
}

template <class T>
py::tuple backward(const py::array& q_in, const py::handle& k, const py::handle& v, const py::handle& out,
                   const py::handle& lse, const py::handle& d_out, bool causal, const py::handle& scale,
                   const std::string& algorithm) {
  const AttentionShape s = shape_of_q(q_in, causal, scale);
  const auto shape = dims(q_in);
  const std::vector<py::ssize_t> rows(shape.begin(), shape.end() - 1);
  const CArray<T> q = operand<T>(q_in, "q", shape), kk = operand<T>(k, "k", shape), vv = operand<T>(v, "v", shape),
                  o = operand<T>(out, "out", shape), l = operand<T>(lse, "lse", rows),
                  dO = operand<T>(d_out, "d_out", shape);
  const auto algo = make_algorithm(algorithm);
  CArray<T> dq(shape), dk(shape), dv(shape);
  AttentionInfo info;
  AttentionBackwardIO<T> io{q.data(),          kk.data(),         vv.data(),         o.data(),
                            l.data(),          dO.data(),         dq.mutable_data(), dk.mutable_data(),
                            dv.mutable_data(), &info};
  {
    py::gil_scoped_release release;
    attention_backward(*algo, s, io);
  }
  return py::make_tuple(dq, dk, dv, info);
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def(
      "attention_forward",
      [](const py::handle& q, const py::handle& k, const py::handle& v, bool causal, const py::handle& scale,
         const std::string& algorithm) {
        const py::array a = as_array(q, "q");
        return is_double(a) ? forward<double>(a, k, v, causal, scale, algorithm)
                            : forward<float>(a, k, v, causal, scale, algorithm);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal") = false, py::arg("scale") = py::none(),
      py::arg("algorithm") = "exact",
      "(out, lse, info) of softmax(scale q k^T) v for arrays of shape (batch, heads, L, head_dim); lse (batch, "
      "heads, L) holds each row's log-sum-exp of the scaled scores; info what the algorithm reports (the "
      "polynomial's degree, rank, range, error bounds). scale None: 1/sqrt(head_dim).");
  m.def(
      "attention_backward",
      [](const py::handle& q, const py::handle& k, const py::handle& v, const py::handle& out, const py::handle& lse,
         const py::handle& d_out, bool causal, const py::handle& scale, const std::string& algorithm) {
        const py::array a = as_array(q, "q");
        return is_double(a) ? backward<double>(a, k, v, out, lse, d_out, causal, scale, algorithm)
                            : backward<float>(a, k, v, out, lse, d_out, causal, scale, algorithm);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("d_out"),
      py::arg("causal") = false, py::arg("scale") = py::none(), py::arg("algorithm") = "exact",
      "(dq, dk, dv, info) for an upstream gradient d_out of the output, from the same algorithm's "
      "attention_forward out and lse.");
}

}  // namespace lorafgc::python
