#include "routes/concurrency_gate.h"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace triage::routes {

namespace asio = boost::asio;

struct ConcurrencyGate::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;  // touched only on its executor
  std::atomic<bool> granted{false};
};

asio::awaitable<bool> ConcurrencyGate::acquire(SteadyTime deadline) {
  if (limit_ <= 0) co_return true;
  std::shared_ptr<Waiter> w;
  {
    std::lock_guard lock(mu_);
    if (in_use_ < limit_ && queue_.empty()) {
      ++in_use_;
      co_return true;
    }
    w = std::make_shared<Waiter>(co_await asio::this_coro::executor);
    w->timer.expires_at(deadline);
    queue_.push_back(w);
  }
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (w->granted.load()) co_return true;
  std::lock_guard lock(mu_);
  if (w->granted.load()) co_return true;  // granted between the wake-up and the lock
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (*it == w) {
      queue_.erase(it);
      break;
    }
  }
  co_return false;
}

bool ConcurrencyGate::full() const {
  if (limit_ <= 0) return false;
  std::lock_guard lock(mu_);
  return in_use_ >= limit_ || !queue_.empty();
}

void ConcurrencyGate::release() {
  if (limit_ <= 0) return;
  std::shared_ptr<Waiter> next;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      --in_use_;
      return;
    }
    next = std::move(queue_.front());
    queue_.pop_front();
    next->granted.store(true);  // the slot passes straight to the waiter; in_use_ unchanged
  }
  asio::post(next->timer.get_executor(), [next] { next->timer.cancel(); });
}

int64_t ConcurrencyGate::in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

int64_t ConcurrencyGate::waiting() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(queue_.size());
}

}  // namespace triage::routes
