#pragma once
// A memo of what algorithms plan for one problem, alive only inside a
// PlanMemoScope: auto opens one around its plan and the run of its choice, so
// that the candidates' instance costs share their common work (the polynomial
// method's certified score range) and the chosen run reuses its own plan
// instead of computing it again. Outside a scope nothing is kept; nothing
// outlives the scope (every call of auto plans afresh).
#include <memory>
#include <string>

namespace lorafgc::lora {

class PlanMemoScope {
 public:
  // `problem` identifies the one problem planned for inside the scope; a
  // lookup for another misses. Scopes nest: an inner one on the same thread
  // shares the outer's memo.
  explicit PlanMemoScope(const void* problem);
  ~PlanMemoScope();
  PlanMemoScope(const PlanMemoScope&) = delete;
  PlanMemoScope& operator=(const PlanMemoScope&) = delete;

 private:
  bool owner_;
};

namespace detail {
// nullptr outside a scope, for another problem, or when `key` was not stored.
std::shared_ptr<const void> memo_find(const void* problem, const std::string& key);
// A no-op outside a scope.
void memo_store(const void* problem, const std::string& key, std::shared_ptr<const void> value);

// The value stored under `key`, or compute() (a V) stored there and returned.
template <class V, class Compute>
std::shared_ptr<const V> memo_get_or(const void* problem, const std::string& key, Compute compute) {
  if (const auto hit = memo_find(problem, key)) return std::static_pointer_cast<const V>(hit);
  auto value = std::make_shared<const V>(compute());
  memo_store(problem, key, value);
  return value;
}

// Times the work of entries every candidate shares (the rows, the certified
// range) in the scope, nested ones once: auto's thrifty planning charges that
// work to no candidate's costing, since whichever is costed first pays it.
class SharedWorkTimer {
 public:
  SharedWorkTimer();
  ~SharedWorkTimer();
  SharedWorkTimer(const SharedWorkTimer&) = delete;
  SharedWorkTimer& operator=(const SharedWorkTimer&) = delete;

 private:
  bool outermost_;
  double start_;
};
// The seconds spent in the scope computing shared entries so far (0 outside one).
double memo_shared_seconds();

// memo_get_or for an entry every candidate shares.
template <class V, class Compute>
std::shared_ptr<const V> memo_get_or_shared(const void* problem, const std::string& key, Compute compute) {
  return memo_get_or<V>(problem, key, [&] {
    const SharedWorkTimer timer;
    return compute();
  });
}
}  // namespace detail

}  // namespace lorafgc::lora
