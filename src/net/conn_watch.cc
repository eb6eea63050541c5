#include "net/conn_watch.h"

#include <sys/socket.h>

#include <cerrno>

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

namespace {

// True when the peer has closed its side or the connection failed: a peek reads end of stream
// or an error other than "nothing to read yet".
bool client_closed(asio::ip::tcp::socket& socket) {
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n > 0) return false;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace

int ConnectionWatch::sweep(SteadyTime now) {
  last_sweep_ = now;
  int cancelled = 0;
  for (Entry* e = head_; e != nullptr;) {
    Entry* next = e->next_;  // a `gone` callback never destroys entries, but stay safe
    if (e->gone_ && e->close_check_from_ <= now && client_closed(e->socket_)) {
      auto gone = std::move(e->gone_);
      e->gone_ = nullptr;
      gone();
    }
    e = next;
  }
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

}  // namespace triage::net
