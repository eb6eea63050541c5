#pragma once
// Deadlines for the client connections of one I/O thread, enforced by one coarse periodic sweep
// instead of a timer armed and cancelled around every read and write (Beast basic_stream
// timeouts): per request that was two timer-queue round trips, their cancelled completions and
// a timerfd_settime syscall (docs/performance.md). The price is resolution: a deadline fires
// within one tick after it passes (tick = a quarter of the shortest timeout, 10 ms to 1 s).
//
// Threading: a watch and its entries belong to one io_context and are used only by the thread
// running it. An Entry registers itself for its lifetime (it is neither copyable nor movable).
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>

#include "common/clock.h"

namespace triage::net {

class ConnectionWatch {
 public:
  class Entry {
   public:
    Entry(ConnectionWatch& watch, boost::asio::ip::tcp::socket& socket);
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    // The connection's pending operations are cancelled (operation_aborted) once `timeout` has
    // passed without disarm().
    void arm(std::chrono::milliseconds timeout) { deadline_ = SteadyClock::now() + timeout; }
    void disarm() { deadline_ = SteadyTime::max(); }
    bool expired() const { return expired_; }  // the sweep cancelled this connection

    // While set, every sweep at least one tick after this call checks whether the client has
    // closed the connection (a non-blocking peek reads end of stream or an error) and then
    // calls `gone` once. For the time a request is being answered; the client sends nothing
    // meanwhile, so pipelined bytes (a peek that reads data) mean it is still there.
    void watch_close(std::function<void()> gone) {
      gone_ = std::move(gone);
      // Two ticks after the last sweep is at least one tick from now, without reading the clock.
      close_check_from_ = watch_.last_sweep_ + 2 * watch_.tick_;
    }
    void unwatch_close() { gone_ = nullptr; }

   private:
    friend class ConnectionWatch;
    ConnectionWatch& watch_;
    boost::asio::ip::tcp::socket& socket_;
    SteadyTime deadline_ = SteadyTime::max();
    bool expired_ = false;
    std::function<void()> gone_;
    SteadyTime close_check_from_ = SteadyTime::max();
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
  };

  explicit ConnectionWatch(std::chrono::milliseconds tick) : tick_(tick) {}
  // How often the owner calls sweep() (the server's I/O thread loop).
  std::chrono::milliseconds tick() const { return tick_; }
  // Cancels the connections whose deadline is <= now, and calls the `gone` callbacks of watched
  // connections whose client has closed; returns how many connections were cancelled.
  int sweep(SteadyTime now);
  int size() const { return size_; }

 private:
  std::chrono::milliseconds tick_;
  SteadyTime last_sweep_ = SteadyClock::now();
  Entry* head_ = nullptr;
  int size_ = 0;
};

}  // namespace triage::net
