#pragma once
// Awaiting a LimitBackend that does not answer inline (Redis) from a request's coroutine: the
// backend completes on its own thread and the coroutine resumes on its own executor (an I/O
// thread), so no I/O thread ever waits on the network for a limit. Callers check
// LimitBackend::completes_inline() first and call the backend directly when it does: the
// in-memory backend pays nothing for this path.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>

#include "control/limits.h"

namespace triage::server {

// The outcome of an extend: the ticket (grown when it fit) and the refusal.
struct ExtendOutcome {
  control::ReservationTicket ticket;
  std::optional<control::LimitRefusal> refused;
};

namespace detail {

// Runs `start(done)` and resumes the awaiting coroutine with what `done` gets, on its executor.
template <typename Result, typename Start>
auto await_backend(Start start) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [start = std::move(start)](auto handler) mutable {
        using Handler = decltype(handler);
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        auto shared = std::make_shared<Handler>(std::move(handler));
        start([shared, work = std::move(work)](Result result) mutable {
          auto ex = work.get_executor();
          asio::post(
              ex, [shared, result = std::move(result)]() mutable { (*shared)(std::move(result)); });
          work.reset();
        });
      },
      asio::use_awaitable);
}

}  // namespace detail

inline boost::asio::awaitable<control::ReserveOutcome> async_reserve(
    control::LimitBackend& backend, control::OwnedReserveRequest request) {
  auto shared_request = std::make_shared<control::OwnedReserveRequest>(std::move(request));
  return detail::await_backend<control::ReserveOutcome>([&backend, shared_request](auto done) {
    backend.reserve_async(std::move(*shared_request), std::move(done));
  });
}

inline boost::asio::awaitable<ExtendOutcome> async_extend(control::LimitBackend& backend,
                                                          control::ReservationTicket ticket,
                                                          control::OwnedReserveRequest more) {
  auto args = std::make_shared<std::pair<control::ReservationTicket, control::OwnedReserveRequest>>(
      std::move(ticket), std::move(more));
  return detail::await_backend<ExtendOutcome>([&backend, args](auto done) {
    backend.extend_async(
        std::move(args->first), std::move(args->second),
        [done = std::move(done)](control::ReservationTicket grown,
                                 std::optional<control::LimitRefusal> refused) mutable {
          done(ExtendOutcome{std::move(grown), std::move(refused)});
        });
  });
}

}  // namespace triage::server
