// The per-scope plan memo (plan_memo.hpp): one per thread, the outermost scope's.
#include <lorafgc/lora/plan_memo.hpp>

#include <map>

namespace lorafgc::lora {

namespace {

struct Memo {
  const void* problem = nullptr;
  std::map<std::string, std::shared_ptr<const void>> entries;
};

thread_local Memo* active = nullptr;

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

void memo_store(const void* problem, const std::string& key, std::shared_ptr<const void> value) {
  if (active && active->problem == problem) active->entries[key] = std::move(value);
}

}  // namespace detail

}  // namespace lorafgc::lora
