// The per-scope plan memo (plan_memo.hpp): one per thread, the outermost scope's.
#include <lorafgc/lora/plan_memo.hpp>

#include <chrono>
#include <map>

namespace lorafgc::lora {

namespace {

struct Memo {
  const void* problem = nullptr;
  std::map<std::string, std::shared_ptr<const void>> entries;
  double shared_seconds = 0;
  int shared_depth = 0;
};

thread_local Memo* active = nullptr;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

PlanMemoScope::PlanMemoScope(const void* problem) : owner_(active == nullptr) {
  if (owner_) active = new Memo{problem, {}};
}

PlanMemoScope::~PlanMemoScope() {
  if (owner_) {
    delete active;
    active = nullptr;
  }
}

namespace detail {

std::shared_ptr<const void> memo_find(const void* problem, const std::string& key) {
  if (!active || active->problem != problem) return nullptr;
  const auto it = active->entries.find(key);
  return it == active->entries.end() ? nullptr : it->second;
}

SharedWorkTimer::SharedWorkTimer() : outermost_(active && active->shared_depth++ == 0), start_(outermost_ ? now() : 0) {}

SharedWorkTimer::~SharedWorkTimer() {
  if (!active) return;
  --active->shared_depth;
  if (outermost_) active->shared_seconds += now() - start_;
}

double memo_shared_seconds() { return active ? active->shared_seconds : 0.0; }

void memo_store(const void* problem, const std::string& key, std::shared_ptr<const void> value) {
  if (active && active->problem == problem) active->entries[key] = std::move(value);
}

}  // namespace detail

}  // namespace lorafgc::lora
