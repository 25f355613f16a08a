#include <lorafgc/core/checks.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/problem.hpp>

#include "lora/common/score_range.hpp"

#include <cmath>

namespace lorafgc::lora {

Adaptation parse_adaptation(const std::string& text) {
  if (text == "partial") return Adaptation::Partial;
  if (text == "full") return Adaptation::Full;
  throw InvalidArgument("mode", "expected 'partial' or 'full', got '" + text + "'");
}

const char* to_string(Adaptation a) { return a == Adaptation::Partial ? "partial" : "full"; }

template <class T>
Eigen::Index Problem<T>::rank() const {
  for (const auto& a : adapter)
    if (a) return a->B.cols();
  return 0;
}

template <class T>
Matrix<T> Problem<T>::effective_weight(Projection p) const {
  const auto& a = adapter[index(p)];
  if (!a) return W[index(p)];
  return W[index(p)] + static_cast<T>(scale()) * (a->B * a->A);
}

template <class T>
void Problem<T>::validate() const {
  if (X.empty()) throw InvalidArgument("X", "the batch is empty");
  if (Y.size() != X.size())
    throw InvalidArgument("Y", "batch size " + std::to_string(Y.size()) + " differs from X's " +
                                   std::to_string(X.size()));
  const Eigen::Index L = X.front().rows(), d = X.front().cols();
  require_count("X", L, Quantity::length);
  require_count("X", d, Quantity::width);
  require_count("X", static_cast<long long>(X.size()), Quantity::batch);
  for (std::size_t b = 0; b < X.size(); ++b) {
    const std::string tag = X.size() > 1 ? "[" + std::to_string(b) + "]" : "";
    require_shape("X" + tag, X[b], L, d);
    require_shape("Y" + tag, Y[b], L, d);
    require_finite("X" + tag, X[b]);
    require_finite("Y" + tag, Y[b]);
  }
  const char* wnames[] = {"Wq", "Wk", "Wv"};
  for (Projection p : kProjections) {
    require_shape(wnames[index(p)], W[index(p)], d, d);
    require_finite(wnames[index(p)], W[index(p)]);
  }
  if (!adapted(Projection::Q) && !adapted(Projection::K) && !adapted(Projection::V))
    throw InvalidArgument("adapters", "no weight is adapted");
  const Eigen::Index r = rank();
  for (Projection p : kProjections) {
    const auto& a = adapter[index(p)];
    if (!a) continue;
    const std::string name = std::string("adapters['") + key(p) + "']";
    require_count(name, a->B.cols(), Quantity::rank);
    if (a->B.cols() != r)
      throw InvalidArgument(name, "rank " + std::to_string(a->B.cols()) +
                                      " differs from the other adapters' rank " + std::to_string(r));
    require_shape(name + ".B", a->B, d, r);
    require_shape(name + ".A", a->A, r, d);
    require_finite(name + ".B", a->B);
    require_finite(name + ".A", a->A);
  }
  if (!std::isfinite(alpha)) throw InvalidArgument("alpha", "must be finite");
  if (!std::isfinite(beta)) throw InvalidArgument("beta", "must be finite");
}

template <class T>
double Problem<T>::score_bound() const {
  return detail::score_range(X, effective_weight(Projection::Q), effective_weight(Projection::K)).bound(beta);
}

template <class T>
ProblemShape shape_of(const Problem<T>& p, bool score_bound) {
  ProblemShape s;
  s.batch = p.batch();
  s.length = p.length();
  s.width = p.width();
  s.rank = p.rank();
  for (Projection q : kProjections) s.adapted[index(q)] = p.adapted(q);
  s.score_bound = score_bound ? p.score_bound() : -1;
  return s;
}

template <class T>
Problem<double> to_float64(const Problem<T>& p) {
  Problem<double> q;
  for (const auto& x : p.X) q.X.push_back(x.template cast<double>());
  for (const auto& y : p.Y) q.Y.push_back(y.template cast<double>());
  for (Projection k : kProjections) {
    q.W[index(k)] = p.W[index(k)].template cast<double>();
    if (const auto& a = p.adapter[index(k)])
      q.adapter[index(k)] = LoraAdapter<double>{a->B.template cast<double>(), a->A.template cast<double>()};
  }
  q.alpha = p.alpha;
  q.beta = p.beta;
  return q;
}

template struct Problem<float>;
template struct Problem<double>;
template ProblemShape shape_of(const Problem<float>&, bool);
template ProblemShape shape_of(const Problem<double>&, bool);
template Problem<double> to_float64(const Problem<float>&);
template Problem<double> to_float64(const Problem<double>&);

}  // namespace lorafgc::lora
