#pragma once
// The route extension point. A route is a node of the route tree, named in config and
// addressable as a `model`; its run() decides which model(s) answer and returns the answer.
// The same tree runs in `triage serve` (HTTP) and `triage eval` (in-process, replay providers),
// so every routing decision has exactly one implementation.
//
// Threading: routes are built once and shared by every I/O thread; run() must not mutate
// the route (per-request state lives in the coroutine and in ExecContext).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "core/chat.h"
#include "core/trace.h"
#include "routes/eval_family.h"

namespace triage::routes {

// Admits each model call of one request before it is made, against what the request may still
// spend (a client key's reservation, control/limits.h). The gateway sets one on requests with a
// limited key; eval and unlimited keys leave ExecContext::admission null. Called on the
// request's coroutine only (never concurrently for one request).
class CallAdmission {
 public:
  virtual ~CallAdmission() = default;
  // Ok, or the error to fail this call with (429 over a limit). A refused call is not made; the
  // route treats it like any failed call (a cascade stops, a fallback tries the next).
  // A coroutine: a shared limit store (Redis) answers from its own thread, never blocking the
  // request's I/O thread.
  virtual boost::asio::awaitable<Result<void>> admit(const config::Model& model,
                                                     const core::ChatRequest& req) = 0;
};

// Why a route cannot be called for a request now.
struct Refusal {
  std::optional<core::SkipReason> ineligible;  // the model cannot take it; nullopt: circuit open
  const config::Model* model = nullptr;        // the refused model (set by model routes)
  // "circuit open" or the skip reason ("context 12k > 8k").
  std::string text() const;
};

// Per-request execution state, owned by the request's coroutine.
struct ExecContext {
  core::Trace& trace;    // spans and totals are appended here
  SteadyTime start;      // the request's arrival; span offsets are relative to it
  SteadyTime deadline;   // the whole request must finish by then
  // Optional: receives traces derived from this request that must be logged on their own (a
  // shadow route's candidate runs, see shadow_route.h). The gateway sets it to feed its sinks;
  // `triage eval` leaves it empty (routes then skip work whose only output is such a trace).
  // May be called after the request finished, from the request's executor: whatever it
  // captures must outlive every request (the gateway drains before it is destroyed).
  std::function<void(core::Trace&&)> emit_derived = {};
  CallAdmission* admission = nullptr;  // not owned; see CallAdmission
};

class Route {
 public:
  virtual ~Route() = default;
  // Versioned logic name recorded in traces, e.g. "model/1".
  virtual std::string_view kind() const = 0;
  virtual const std::string& name() const = 0;
  // Answers `req`. With a sink, the final answer is streamed to it as it is produced (only the
  // answer that is returned is streamed; rejected attempts never reach the client).
  virtual boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                               ExecContext& ctx,
                                                               core::StreamSink* sink) = 0;
  // How `triage eval` evaluates this route (routes/eval_family.h). A kind with a family of its
  // own declares it by overriding this in its header; the default is AnyDatasetEval.
  virtual EvalFamily eval_family() { return AnyDatasetEval{}; }
  // "Can I call this for `req` now": a refusal when the model it calls has every circuit open
  // (docs/resilience.md) or cannot take the request (routes/eligibility.h). Kinds that choose
  // among alternatives (classify escalation, threshold, predict) take the next choice instead
  // of a refused one; fallback and cascade get the model's fast 503 or 400 and move on.
  // Composite routes never refuse.
  virtual std::optional<Refusal> refusal(const core::ChatRequest& /*req*/) const {
    return std::nullopt;
  }
};

}  // namespace triage::routes
