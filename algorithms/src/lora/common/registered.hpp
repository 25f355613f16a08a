#pragma once
// The base of every registered algorithm class: the derived class provides
// `template <class T> Gradients<T> run(const Problem<T>&) const`; this base
// gives both dtypes, checks the workspace the cost model states against the
// memory budget before anything is allocated, and refuses non-finite output
// (a NumericalError, never a NaN passed on). A derived class that computes
// attention on Q, K, V (lorafgc/lora/attention.hpp) provides
// `template <class IO> void attend(const AttentionShape&, const IO&) const`
// for AttentionForwardIO<T> and AttentionBackwardIO<T>; without it, attention
// is refused, naming the algorithm.
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/algorithm.hpp>
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

#include <cmath>
#include <type_traits>
#include <utility>

namespace lorafgc::lora::detail {

// Whether D has attend(shape, io) for this IO.
template <class D, class IO, class = void>
struct Attends : std::false_type {};
template <class D, class IO>
struct Attends<D, IO, std::void_t<decltype(std::declval<const D&>().attend(std::declval<const AttentionShape&>(),
                                                                          std::declval<const IO&>()))>>
    : std::true_type {};

// Whether D has run_shard(shard, layout, comm) for Problem<T> (a sequence-parallel form).
template <class D, class T, class = void>
struct Shards : std::false_type {};
template <class D, class T>
struct Shards<D, T,
              std::void_t<decltype(std::declval<const D&>().run_shard(
                  std::declval<const Problem<T>&>(), std::declval<const ShardLayout&>(), std::declval<Collectives&>()))>>
    : std::true_type {};

template <class Derived>
class Registered : public Algorithm {
 public:
  Gradients<float> compute(const Problem<float>& p) const override { return checked(p); }
  Gradients<double> compute(const Problem<double>& p) const override { return checked(p); }

  Gradients<float> compute_shard(const Problem<float>& p, const ShardLayout& l, Collectives& c) const override {
    return shard_or_refuse(p, l, c);
  }
  Gradients<double> compute_shard(const Problem<double>& p, const ShardLayout& l, Collectives& c) const override {
    return shard_or_refuse(p, l, c);
  }

  void attention_forward(const AttentionShape& s, const AttentionForwardIO<float>& io) const override {
    attend_or_refuse(s, io);
  }
  void attention_forward(const AttentionShape& s, const AttentionForwardIO<double>& io) const override {
    attend_or_refuse(s, io);
  }
  void attention_backward(const AttentionShape& s, const AttentionBackwardIO<float>& io) const override {
    attend_or_refuse(s, io);
  }
  void attention_backward(const AttentionShape& s, const AttentionBackwardIO<double>& io) const override {
    attend_or_refuse(s, io);
  }

 protected:
  using Algorithm::Algorithm;

 private:
  template <class IO>
  void attend_or_refuse(const AttentionShape& s, const IO& io) const {
    const ThreadLimit limit(threads_option());
    if constexpr (Attends<Derived, IO>::value)
      static_cast<const Derived&>(*this).attend(s, io);
    else if constexpr (std::is_same_v<IO, AttentionForwardIO<float>> || std::is_same_v<IO, AttentionForwardIO<double>>)
      Algorithm::attention_forward(s, io);
    else
      Algorithm::attention_backward(s, io);
  }

  template <class T>
  Gradients<T> shard_or_refuse(const Problem<T>& p, const ShardLayout& l, Collectives& c) const {
    if constexpr (Shards<Derived, T>::value) {
      // The threads are checked in the agreement (sequence_parallel.cpp), where a
      // refusal on one process reaches every process.
      const ThreadLimit limit(threads_option());
      return static_cast<const Derived&>(*this).run_shard(p, l, c);
    } else {
      return Algorithm::compute_shard(p, l, c);
    }
  }

  // The threads option, 0 (the process's default) where none is declared;
  // declares() spares building canonical() on every call.
  int threads_option() const {
    return options().declares("threads") ? static_cast<int>(options().integer("threads")) : 0;
  }

  template <class T>
  Gradients<T> checked(const Problem<T>& p) const {
    p.validate();
    // Without the score bound (O(L d^2)): a cost model that needs it (the
    // polynomial degree) returns NaN here and checks its own plan.
    const ProblemShape shape = shape_of(p, false);
    const double bytes = workspace_bytes(shape, sizeof(T));
    if (std::isfinite(bytes))
      require_memory("L", bytes,
                     spec() + " on L = " + std::to_string(shape.length) + ", d = " + std::to_string(shape.width) +
                         ", batch " + std::to_string(shape.batch));
    const int threads = threads_option();
    require_threads_fit("threads", threads > 0 ? threads : omp_threads());
    const ThreadLimit limit(threads);
    Gradients<T> g = static_cast<const Derived&>(*this).run(p);
    require_finite_gradients(g, name());
    return g;
  }
};

}  // namespace lorafgc::lora::detail
