#include "common/cancellation.h"

#include <algorithm>

namespace triage {

void Cancellation::Hook::reset() {
  if (owner_ == nullptr) return;
  auto& hooks = owner_->hooks_;
  hooks.erase(std::remove_if(hooks.begin(), hooks.end(),
                             [id = id_](const auto& h) { return h.first == id; }),
              hooks.end());
  owner_ = nullptr;
}

void Cancellation::cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  // A hook may unregister others while running (a socket cancel completes nothing inline, but
  // be safe): run a snapshot.
  const auto hooks = hooks_;
  for (const auto& [id, abort] : hooks) abort();
}

Cancellation::Hook Cancellation::on_cancel(std::function<void()> abort) {
  const uint64_t id = next_id_++;
  if (hooks_.capacity() == 0) hooks_.reserve(4);
  hooks_.emplace_back(id, std::move(abort));
  return Hook(this, id);
}

}  // namespace triage
