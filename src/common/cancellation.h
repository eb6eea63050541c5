#pragma once
// "The client went away" for one request. The gateway cancels it when it sees the client's
// connection close during the request (net::HttpServer, server.cancel_on_disconnect); whoever
// waits on an upstream on the request's behalf registers a hook that aborts the wait
// (net::HttpClient cancels the upstream socket), so the upstream call stops instead of running
// to its deadline and being paid for. Requests derived from this one (pipeline steps, ensemble
// children, cascades) share it through core::RequestMeta.
//
// Threading: one request's I/O thread only; the close is detected on that thread too.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace triage {

class Cancellation {
 public:
  // Unregisters its hook when destroyed.
  class Hook {
   public:
    Hook() = default;
    Hook(Cancellation* owner, uint64_t id) : owner_(owner), id_(id) {}
    Hook(Hook&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), id_(o.id_) {}
    Hook& operator=(Hook&& o) noexcept {
      if (this != &o) {
        reset();
        owner_ = std::exchange(o.owner_, nullptr);
        id_ = o.id_;
      }
      return *this;
    }
    Hook(const Hook&) = delete;
    Hook& operator=(const Hook&) = delete;
    ~Hook() { reset(); }
    void reset();

   private:
    Cancellation* owner_ = nullptr;
    uint64_t id_ = 0;
  };

  bool cancelled() const { return cancelled_; }
  // Marks the request cancelled and runs every registered hook once. Idempotent.
  void cancel();
  // Registers `abort` (run by cancel()) for as long as the returned Hook lives. Check
  // cancelled() before starting the wait: a hook registered after cancel() is never run.
  Hook on_cancel(std::function<void()> abort);
  std::size_t hooks() const { return count_; }

 private:
  bool cancelled_ = false;
  uint64_t next_id_ = 1;
  // One per pending upstream operation of the request: a few at most (an ensemble's children).
  // The first kInline live in the object, so the usual request allocates nothing for them.
  static constexpr std::size_t kInline = 4;
  struct Slot {
    uint64_t id = 0;  // 0: free
    std::function<void()> abort;
  };
  Slot inline_[kInline];
  std::vector<Slot> more_;
  std::size_t count_ = 0;
};

}  // namespace triage
