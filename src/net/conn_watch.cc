#include "net/conn_watch.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace triage::net {

namespace asio = boost::asio;

ConnectionWatch::Entry::Entry(ConnectionWatch& watch, asio::ip::tcp::socket& socket)
    : watch_(watch), socket_(socket) {
  next_ = watch_.head_;
  if (next_ != nullptr) next_->prev_ = this;
  watch_.head_ = this;
  ++watch_.size_;
}

ConnectionWatch::Entry::~Entry() {
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    watch_.head_ = next_;
  }
  if (next_ != nullptr) next_->prev_ = prev_;
  --watch_.size_;
}

int ConnectionWatch::sweep(SteadyTime now) {
  int cancelled = 0;
  for (Entry* e = head_; e != nullptr; e = e->next_) {
    if (e->deadline_ > now) continue;
    boost::system::error_code ignored;
    e->socket_.cancel(ignored);
    e->expired_ = true;
    e->deadline_ = SteadyTime::max();
    ++cancelled;
  }
  return cancelled;
}

asio::awaitable<void> ConnectionWatch::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(tick_);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    sweep(SteadyClock::now());
  }
}

}  // namespace triage::net
