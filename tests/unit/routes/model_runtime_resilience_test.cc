// ModelRuntime's resilience (docs/resilience.md): retries with typed failures, the circuit
// breaker, deployments, load shedding with overflow. A scripted client answers each attempt as
// told, with the typed failure a real provider would report in CallStats.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <optional>

#include "config/config.h"
#include "routes/model_runtime.h"

namespace triage::routes {
namespace {

namespace asio = boost::asio;
using control::FailureKind;

struct Outcome {
  std::optional<control::UpstreamFailure> failure;  // unset: success
  ErrorCode code = ErrorCode::kUpstreamError;
  std::chrono::milliseconds delay{0};
};

Outcome http(int status, std::optional<int64_t> retry_after_ms = std::nullopt) {
  control::UpstreamFailure f;
  f.kind = FailureKind::kHttpStatus;
  f.http_status = status;
  f.retry_after_ms = retry_after_ms;
  Outcome o;
  o.failure = f;
  o.code = status == 429 ? ErrorCode::kRateLimited
           : status == 400 ? ErrorCode::kInvalidRequest
                           : ErrorCode::kUpstreamError;
  return o;
}
Outcome connect_failed() {
  Outcome o;
  o.failure = control::UpstreamFailure{};
  return o;
}

// Answers attempts from a script (then `then` forever), counting calls.
class ScriptedClient final : public providers::ModelClient {
 public:
  std::deque<Outcome> script;
  Outcome then;
  int calls = 0;
  bool wrote_before_failing = false;  // streams: a delta reaches the sink before the failure

  std::string_view name() const override { return "scripted/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest&, SteadyTime,
                                                     providers::CallStats& stats) override {
    ++calls;
    Outcome o = then;
    if (!script.empty()) {
      o = script.front();
      script.pop_front();
    }
    if (o.delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, o.delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (o.failure) {
      stats.failure = o.failure;
      co_return make_error(o.code, "scripted failure", "scripted internal detail");
    }
    core::Completion c;
    c.content = "answer";
    c.usage = {3, 1, 0, false};
    co_return c;
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime d,
                                                   providers::CallStats& stats,
                                                   core::StreamSink& sink) override {
    if (wrote_before_failing) {
      core::Delta delta;
      delta.content = "partial";
      co_await sink.write(delta);
    }
    auto r = co_await complete(req, d, stats);
    if (!r && wrote_before_failing && stats.failure) stats.failure->client_saw_bytes = true;
    co_return r;
  }
};

class NullSink final : public core::StreamSink {
 public:
  asio::awaitable<bool> write(const core::Delta&) override { co_return true; }
};

config::Model model(const std::string& name = "m1") {
  config::Model m;
  m.name = name;
  m.provider = "scripted";
  m.tier = "small";
  m.resilience.retries.base_ms = 1;  // keep the tests fast; the policy is the same
  m.resilience.retries.cap_ms = 2;
  return m;
}

core::ChatRequest request() {
  core::ChatRequest r;
  r.model = "m1";
  r.messages.push_back({"user", "hello", {}});
  return r;
}

struct Call {
  core::Trace trace;
  std::optional<Result<core::Completion>> result;
};

// Runs one call to completion on a private io_context.
Call run(ModelRuntime& rt, core::StreamSink* sink = nullptr,
         std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  Call c;
  asio::io_context ioc;
  core::ChatRequest req = request();
  ExecContext ctx{c.trace, SteadyClock::now(), SteadyClock::now() + deadline};
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { c.result.emplace(co_await rt.call(req, ctx, sink)); },
      asio::detached);
  ioc.run();
  return c;
}

ScriptedClient* scripted(std::unique_ptr<ScriptedClient>& owner) { return owner.get(); }

TEST(ModelRuntimeRetries, ARetryableFailureIsRetriedAndTheSpanSaysWhy) {
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->script = {http(503), connect_failed()};
  ModelRuntime rt(model(), std::move(owned));
  Call c = run(rt);
  ASSERT_TRUE(c.result->ok()) << c.result->error().message;
  EXPECT_EQ(client->calls, 3);
  ASSERT_EQ(c.trace.spans.size(), 1u);
  EXPECT_EQ(c.trace.spans[0].retries, (std::vector<std::string>{"http_503", "connect"}));
  EXPECT_TRUE(c.trace.spans[0].ok);
}

TEST(ModelRuntimeRetries, StopsAfterMaxRetriesAndSaysWhy) {
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->then = http(500);
  ModelRuntime rt(model(), std::move(owned));
  Call c = run(rt);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().code, ErrorCode::kUpstreamError);
  EXPECT_EQ(client->calls, 3);  // 1 + max 2
  EXPECT_EQ(c.trace.spans[0].no_retry, "attempts_exhausted");
  EXPECT_FALSE(c.trace.spans[0].ok);
}

TEST(ModelRuntimeRetries, ClientErrorsAndGarbageAreNotRetried) {
  control::UpstreamFailure garbage;
  garbage.kind = FailureKind::kMalformed;
  Outcome malformed;
  malformed.failure = garbage;
  for (const Outcome& o : {http(400), malformed}) {
    auto owned = std::make_unique<ScriptedClient>();
    ScriptedClient* client = scripted(owned);
    client->then = o;
    ModelRuntime rt(model(), std::move(owned));
    Call c = run(rt);
    ASSERT_FALSE(c.result->ok());
    EXPECT_EQ(client->calls, 1);
    EXPECT_EQ(c.trace.spans[0].no_retry, "not_retryable");
  }
}

TEST(ModelRuntimeRetries, NeverAfterTheFirstStreamedByte) {
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->then = http(503);
  client->wrote_before_failing = true;
  ModelRuntime rt(model(), std::move(owned));
  NullSink sink;
  Call c = run(rt, &sink);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(client->calls, 1);
  EXPECT_EQ(c.trace.spans[0].no_retry, "stream_started");
}

TEST(ModelRuntimeRetries, HonoursRetryAfterAndPassesItOnWhenGivingUp) {
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->script = {http(429, 120)};
  ModelRuntime rt(model(), std::move(owned));
  const SteadyTime t0 = SteadyClock::now();
  Call c = run(rt);
  ASSERT_TRUE(c.result->ok());
  EXPECT_GE(SteadyClock::now() - t0, std::chrono::milliseconds(120));

  // Asking for longer than 20 s: not waited for; the client is told when to come back.
  auto owned2 = std::make_unique<ScriptedClient>();
  owned2->then = http(429, 30'000);
  ModelRuntime rt2(model(), std::move(owned2));
  Call c2 = run(rt2);
  ASSERT_FALSE(c2.result->ok());
  EXPECT_EQ(c2.result->error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(c2.result->error().retry_after_s, 30);
  EXPECT_EQ(c2.trace.spans[0].no_retry, "retry_after_too_long");
}

TEST(ModelRuntimeRetries, BoundedByTheRequestDeadline) {
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->then = http(503);
  ModelRuntime rt(model(), std::move(owned));
  Call c = run(rt, nullptr, std::chrono::milliseconds(300));  // < 500 ms for another attempt
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(client->calls, 1);
  EXPECT_EQ(c.trace.spans[0].no_retry, "deadline");
}

TEST(ModelRuntimeBreaker, OpensAfterConsecutiveFailuresAndFailsFast) {
  config::Model m = model();
  m.resilience.retries.max = 0;
  m.resilience.breaker.consecutive_failures = 3;
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->then = http(502);
  ModelRuntime rt(m, std::move(owned));
  std::vector<std::string> transitions;
  rt.set_breaker_observer([&](const std::string& model, const control::BreakerTransition& t) {
    transitions.push_back(model + ":" + std::string(control::breaker_state_name(t.to)));
  });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(rt).result->error().code, ErrorCode::kUpstreamError);
  EXPECT_EQ(transitions, (std::vector<std::string>{"m1:open"}));
  Call c = run(rt);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().code, ErrorCode::kUnavailable);  // fallbacks take the next choice
  EXPECT_GE(c.result->error().retry_after_s, 1);
  EXPECT_EQ(c.trace.spans[0].breaker, "open");
  EXPECT_EQ(client->calls, 3);  // failed fast: no upstream call
}

TEST(ModelRuntimeBreaker, ClientErrorsDoNotOpenIt) {
  config::Model m = model();
  m.resilience.breaker.consecutive_failures = 2;
  auto owned = std::make_unique<ScriptedClient>();
  ScriptedClient* client = scripted(owned);
  client->then = http(400);
  ModelRuntime rt(m, std::move(owned));
  for (int i = 0; i < 4; ++i) run(rt);
  EXPECT_EQ(client->calls, 4);
  EXPECT_EQ(rt.balancer().breaker(0).state(), control::BreakerState::kClosed);
}

TEST(ModelRuntimeDeployments, ARetryGoesToAnotherDeployment) {
  auto down = std::make_unique<ScriptedClient>();
  auto live = std::make_unique<ScriptedClient>();
  ScriptedClient* down_client = down.get();
  ScriptedClient* live_client = live.get();
  down->then = connect_failed();
  std::vector<ModelDeployment> deployments;
  deployments.push_back({"eu", std::move(down)});
  deployments.push_back({"us", std::move(live)});
  config::Model m = model();
  m.resilience.retries.max = 1;
  m.resilience.retries.budget_share = 1.0;  // this test is about where retries go
  ModelRuntime rt(m, std::move(deployments));
  for (int i = 0; i < 20; ++i) {
    Call c = run(rt);
    ASSERT_TRUE(c.result->ok()) << i;
    EXPECT_EQ(c.trace.spans[0].deployment, "us");
  }
  EXPECT_EQ(live_client->calls, 20);
  // The down one is tried rarely: a failure makes it look slow to the balancer, and its
  // circuit opens after 5 in a row.
  EXPECT_GE(down_client->calls, 1);
  EXPECT_LE(down_client->calls, 5);
}

TEST(ModelRuntimeShedding, AFullGateOverflowsToTheAlternativeOrAnswers503) {
  config::Model m = model();
  m.max_concurrency = 1;
  m.max_queue_ms = 0;
  auto busy = std::make_unique<ScriptedClient>();
  busy->then.delay = std::chrono::milliseconds(200);
  ModelRuntime rt(m, std::move(busy));
  ModelRuntime alt(model("m2"), std::make_unique<ScriptedClient>());

  auto two_at_once = [&](core::Trace& second) {
    asio::io_context ioc;
    core::Trace first;
    core::ChatRequest req = request();
    ExecContext c1{first, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
    ExecContext c2{second, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
    std::optional<Result<core::Completion>> r1, r2;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { r1.emplace(co_await rt.call(req, c1, nullptr)); },
                   asio::detached);
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { r2.emplace(co_await rt.call(req, c2, nullptr)); },
                   asio::detached);
    ioc.run();
    EXPECT_TRUE(r1->ok());
    return std::move(*r2);
  };

  core::Trace rejected;
  Result<core::Completion> r = two_at_once(rejected);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().retry_after_s, 1);
  ASSERT_EQ(rejected.spans.size(), 1u);
  EXPECT_EQ(rejected.spans[0].shed, "rejected");

  rt.set_overflow(&alt);
  core::Trace overflowed;
  r = two_at_once(overflowed);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "m2");
  EXPECT_EQ(overflowed.model, "m2");
  ASSERT_EQ(overflowed.spans.size(), 2u);
  EXPECT_EQ(overflowed.spans[0].shed, "overflow");
  EXPECT_EQ(overflowed.spans[1].name, "m2");
}

TEST(FailureReason, NamesEveryKind) {
  control::UpstreamFailure f;
  EXPECT_EQ(failure_reason(f), "connect");
  f.kind = FailureKind::kReset;
  EXPECT_EQ(failure_reason(f), "reset");
  f.kind = FailureKind::kTimeout;
  EXPECT_EQ(failure_reason(f), "timeout");
  f.kind = FailureKind::kMalformed;
  EXPECT_EQ(failure_reason(f), "malformed");
  f.kind = FailureKind::kHttpStatus;
  f.http_status = 429;
  EXPECT_EQ(failure_reason(f), "http_429");
}

}  // namespace
}  // namespace triage::routes
