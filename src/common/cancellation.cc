#include "common/cancellation.h"

#include <algorithm>

namespace triage {

void Cancellation::Hook::reset() {
  if (owner_ == nullptr) return;
  Cancellation& c = *owner_;
  owner_ = nullptr;
  for (Slot& slot : c.inline_) {
    if (slot.id == id_) {
      slot.id = 0;
      slot.abort = nullptr;
      --c.count_;
      return;
    }
  }
  for (auto it = c.more_.begin(); it != c.more_.end(); ++it) {
    if (it->id == id_) {
      c.more_.erase(it);
      --c.count_;
      return;
    }
  }
}

void Cancellation::cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  // Aborting an operation completes nothing inline (Asio posts the completion), so no hook is
  // unregistered while this runs; copy the overflow anyway in case one is.
  for (Slot& slot : inline_) {
    if (slot.id != 0) slot.abort();
  }
  const std::vector<Slot> more = more_;
  for (const Slot& slot : more) slot.abort();
}

Cancellation::Hook Cancellation::on_cancel(std::function<void()> abort) {
  const uint64_t id = next_id_++;
  ++count_;
  for (Slot& slot : inline_) {
    if (slot.id == 0) {
      slot.id = id;
      slot.abort = std::move(abort);
      return Hook(this, id);
    }
  }
  more_.push_back({id, std::move(abort)});
  return Hook(this, id);
}

}  // namespace triage
