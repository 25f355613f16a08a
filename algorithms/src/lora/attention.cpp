// The checks every attention call passes before it reaches an algorithm, and
// the refusal of algorithms that do not compute attention.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/attention.hpp>

#include <cmath>
#include <limits>

namespace lorafgc::lora {

namespace {

template <class P>
void require_pointer(const char* field, const P* p) {
  if (p == nullptr) throw InvalidArgument(field, "no data");
}

[[noreturn]] void refuse(const Algorithm& a) {
  throw InvalidArgument("algorithm", "'" + a.name() +
                                         "' does not compute attention on Q, K, V; use exact or another registered "
                                         "algorithm (docs/attention-backend.md)");
}

// Every entry of an input finite: a NaN or an infinity would come out as a
// non-finite result, or (exp of -inf) silently as a masked key.
template <class T>
void require_finite_input(const char* field, const T* x, long long n) {
  for (long long i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw InvalidArgument(field, "entry " + std::to_string(i) + " is not finite (" + std::to_string(x[i]) + ")");
}

// What the forward's and the backward's arguments share.
template <class IO>
void require_operands(const AttentionShape& s, const IO& io) {
  s.validate();
  require_pointer("q", io.q);
  require_pointer("k", io.k);
  require_pointer("v", io.v);
  require_pointer("out", io.out);
  require_pointer("lse", io.lse);
  require_finite_input("q", io.q, s.elements());
  require_finite_input("k", io.k, s.elements());
  require_finite_input("v", io.v, s.elements());
}

// Throws NumericalError when an output holds a value that is not finite.
template <class T>
void require_finite(const Algorithm& a, const char* what, const T* x, long long n) {
  for (long long i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw NumericalError(a.spec() + ": attention " + what + " is not finite (entry " + std::to_string(i) + ")");
}

}  // namespace

void AttentionShape::validate() const {
  require_count("batch", batch, Quantity::batch);
  require_count("heads", heads, Quantity::batch);
  require_count("length", length, Quantity::length);
  require_count("head_dim", head_dim, Quantity::width);
  if (!std::isfinite(scale)) throw InvalidArgument("scale", "must be finite, got " + std::to_string(scale));
  // Every index of a tensor must fit a ptrdiff_t with room for the kernels' padding.
  const double n = static_cast<double>(batch) * heads * length * head_dim;
  if (n > static_cast<double>(std::numeric_limits<long long>::max() / 16))
    throw InvalidArgument("length", "batch x heads x length x head_dim = " + std::to_string(n) + " is too large");
}

template <class T>
void attention_forward(const Algorithm& a, const AttentionShape& s, const AttentionForwardIO<T>& io) {
  require_operands(s, io);
  a.attention_forward(s, io);
  require_finite(a, "out", io.out, s.elements());
  require_finite(a, "lse", io.lse, s.sequences() * s.length);
}

template <class T>
void attention_backward(const Algorithm& a, const AttentionShape& s, const AttentionBackwardIO<T>& io) {
  require_operands(s, io);
  require_pointer("d_out", io.d_out);
  require_pointer("dq", io.dq);
  require_pointer("dk", io.dk);
  require_pointer("dv", io.dv);
  require_finite_input("out", io.out, s.elements());
  require_finite_input("lse", io.lse, s.sequences() * s.length);
  require_finite_input("d_out", io.d_out, s.elements());
  a.attention_backward(s, io);
  require_finite(a, "dq", io.dq, s.elements());
  require_finite(a, "dk", io.dk, s.elements());
  require_finite(a, "dv", io.dv, s.elements());
}

template <class T>
ProblemShape attention_problem_shape(const AttentionShape& s, const T* q, const T* k) {
  ProblemShape shape;
  shape.batch = s.sequences();
  shape.length = s.length;
  shape.width = s.head_dim;
  shape.rank = s.head_dim;  // the chained sweeps' Kronecker products are k d x d: rank-r LoRA's k r x d at r = d
  shape.adapted = {true, true, true};
  const auto rows = [&](const T* x) { return Eigen::Map<const Matrix<T>>(x, s.head_dim, s.sequences() * s.length); };
  // In double: a float norm overflows for entries past 1e19.
  shape.score_bound = std::abs(s.scale) * rows(q).template cast<double>().colwise().norm().maxCoeff() *
                      rows(k).template cast<double>().colwise().norm().maxCoeff();
  return shape;
}

Cost Algorithm::attention_cost(const ProblemShape& problem_shape, const AttentionShape&, const float*,
                               const float*) const {
  return cost(problem_shape, sizeof(float));
}
Cost Algorithm::attention_cost(const ProblemShape& problem_shape, const AttentionShape&, const double*,
                               const double*) const {
  return cost(problem_shape, sizeof(double));
}

void Algorithm::attention_forward(const AttentionShape&, const AttentionForwardIO<float>&) const { refuse(*this); }
void Algorithm::attention_forward(const AttentionShape&, const AttentionForwardIO<double>&) const { refuse(*this); }
void Algorithm::attention_backward(const AttentionShape&, const AttentionBackwardIO<float>&) const { refuse(*this); }
void Algorithm::attention_backward(const AttentionShape&, const AttentionBackwardIO<double>&) const { refuse(*this); }

template ProblemShape attention_problem_shape(const AttentionShape&, const float*, const float*);
template ProblemShape attention_problem_shape(const AttentionShape&, const double*, const double*);
template void attention_forward(const Algorithm&, const AttentionShape&, const AttentionForwardIO<float>&);
template void attention_forward(const Algorithm&, const AttentionShape&, const AttentionForwardIO<double>&);
template void attention_backward(const Algorithm&, const AttentionShape&, const AttentionBackwardIO<float>&);
template void attention_backward(const Algorithm&, const AttentionShape&, const AttentionBackwardIO<double>&);

}  // namespace lorafgc::lora
