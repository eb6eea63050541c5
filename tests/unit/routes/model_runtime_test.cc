#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/detached.hpp>
#include <optional>

#include "config/config.h"
#include "routes/model_runtime.h"
#include "routes/route_table.h"

namespace triage::routes {
namespace {

namespace asio = boost::asio;

// A ModelClient that really implements the interface: answers after `delay` (an asio timer),
// with configurable usage, or fails with a given error.
class FakeClient final : public providers::ModelClient {
 public:
  std::chrono::milliseconds delay{0};
  core::Usage usage{100, 20, 0, false};
  std::optional<Error> fail;
  int in_flight = 0;
  int max_in_flight = 0;

  std::string_view name() const override { return "fake/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest&, SteadyTime,
                                                     providers::CallStats& stats) override {
    ++in_flight;
    max_in_flight = std::max(max_in_flight, in_flight);
    if (delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    --in_flight;
    stats.ttfb_us = 5;
    stats.total_us = 10;
    if (fail) co_return *fail;
    core::Completion c;
    c.content = "four words of answer";
    c.usage = usage;
    co_return c;
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime d,
                                                   providers::CallStats& stats,
                                                   core::StreamSink& sink) override {
    auto r = co_await complete(req, d, stats);
    if (r) {
      core::Delta delta;
      delta.content = r->content;
      if (!co_await sink.write(delta)) co_return make_error(ErrorCode::kCancelled, "gone");
    }
    co_return r;
  }
};

config::Model model_config(int64_t max_concurrency = 0, int64_t max_queue_ms = 5000) {
  config::Model m;
  m.name = "m1";
  m.provider = "fake";
  m.tier = "small";
  m.prices.input_per_mtok = 2.0;
  m.prices.output_per_mtok = 10.0;
  m.prices.per_call = 0.001;
  m.max_concurrency = max_concurrency;
  m.max_queue_ms = max_queue_ms;
  return m;
}

core::ChatRequest request(const std::string& text) {
  core::ChatRequest r;
  r.model = "m1";
  r.messages.push_back({"user", text, {}});
  return r;
}

template <typename T>
T run(asio::io_context& ioc, asio::awaitable<T> aw) {
  std::optional<T> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(aw)); },
      asio::detached);
  ioc.run();
  ioc.restart();
  return std::move(*out);
}

TEST(ModelRuntime, PricesTheCallAndRecordsASpan) {
  auto client = std::make_unique<FakeClient>();
  ModelRuntime rt(model_config(), std::move(client));
  core::Trace trace;
  asio::io_context ioc;
  auto req = request("hello there");
  ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
  auto r = run(ioc, rt.call(req, ctx, nullptr));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "m1");
  // 100 in * $2/M + 20 out * $10/M + $0.001 per call
  EXPECT_DOUBLE_EQ(trace.cost_usd, 100 * 2.0 / 1e6 + 20 * 10.0 / 1e6 + 0.001);
  EXPECT_EQ(trace.tokens_in, 100);
  EXPECT_EQ(trace.tokens_out, 20);
  EXPECT_FALSE(trace.tokens_estimated);
  EXPECT_EQ(trace.model, "m1");
  EXPECT_EQ(trace.tier, "small");
  EXPECT_EQ(trace.provider, "fake/1");
  ASSERT_EQ(trace.spans.size(), 1u);
  EXPECT_EQ(trace.spans[0].kind, core::SpanKind::kModelCall);
  EXPECT_TRUE(trace.spans[0].ok);
  EXPECT_EQ(trace.spans[0].ttfb_us, 5);
  EXPECT_DOUBLE_EQ(trace.spans[0].cost_usd, trace.cost_usd);
}

TEST(ModelRuntime, EstimatesUsageWhenTheUpstreamReportsNone) {
  auto client = std::make_unique<FakeClient>();
  client->usage = {};
  ModelRuntime rt(model_config(), std::move(client));
  core::Trace trace;
  asio::io_context ioc;
  auto req = request("how many tokens is this prompt");
  ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
  auto r = run(ioc, rt.call(req, ctx, nullptr));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->usage.estimated);
  EXPECT_TRUE(trace.tokens_estimated);
  EXPECT_GT(trace.tokens_in, 0);
  EXPECT_GT(trace.tokens_out, 0);
}

TEST(ModelRuntime, FailureIsAValueAndASpan) {
  auto client = std::make_unique<FakeClient>();
  client->fail = make_error(ErrorCode::kUpstreamTimeout, "too slow");
  ModelRuntime rt(model_config(), std::move(client));
  core::Trace trace;
  asio::io_context ioc;
  auto req = request("x");
  ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
  auto r = run(ioc, rt.call(req, ctx, nullptr));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
  ASSERT_EQ(trace.spans.size(), 1u);
  EXPECT_FALSE(trace.spans[0].ok);
  EXPECT_EQ(trace.spans[0].error, "upstream_timeout");
  EXPECT_EQ(trace.cost_usd, 0.0);
  EXPECT_EQ(trace.model, "m1");  // a failed row still says which model failed
}

TEST(ModelRuntime, ConcurrencyLimitHoldsAcrossCalls) {
  auto client = std::make_unique<FakeClient>();
  client->delay = std::chrono::milliseconds(20);
  FakeClient* fake = client.get();
  ModelRuntime rt(model_config(/*max_concurrency=*/2), std::move(client));
  asio::io_context ioc;
  std::vector<core::Trace> traces(6);
  auto req = request("x");
  int ok = 0;
  for (auto& t : traces) {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          ExecContext ctx{t, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
          auto r = co_await rt.call(req, ctx, nullptr);
          ok += r.ok() ? 1 : 0;
        },
        asio::detached);
  }
  ioc.run();
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(fake->max_in_flight, 2);
  EXPECT_EQ(rt.gate().in_use(), 0);
  int64_t queued = 0;
  for (auto& t : traces) queued += t.queue_us > 0 ? 1 : 0;
  EXPECT_GE(queued, 4);  // all but the first two waited for a slot
}

TEST(ModelRuntime, QueueWaitPastItsLimitIsUnavailable) {
  auto client = std::make_unique<FakeClient>();
  client->delay = std::chrono::milliseconds(200);
  ModelRuntime rt(model_config(/*max_concurrency=*/1, /*max_queue_ms=*/10), std::move(client));
  asio::io_context ioc;
  core::Trace t1, t2;
  auto req = request("x");
  std::optional<Result<core::Completion>> r1, r2;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    ExecContext ctx{t1, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
    r1.emplace(co_await rt.call(req, ctx, nullptr));
  }, asio::detached);
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    ExecContext ctx{t2, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
    r2.emplace(co_await rt.call(req, ctx, nullptr));
  }, asio::detached);
  ioc.run();
  ASSERT_TRUE(r1 && r2);
  EXPECT_TRUE(r1->ok());
  ASSERT_FALSE(r2->ok());
  EXPECT_EQ(r2->error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r2->error().message.find("concurrency limit"), std::string::npos);
  EXPECT_EQ(rt.gate().in_use(), 0);
  EXPECT_EQ(rt.gate().waiting(), 0);
}

// A deployment that always answers `status` (an upstream failure the retry policy sees).
class FailingClient final : public providers::ModelClient {
 public:
  int status = 503;
  int calls = 0;
  std::string_view name() const override { return "failing/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest&, SteadyTime,
                                                     providers::CallStats& stats) override {
    ++calls;
    control::UpstreamFailure failure;
    failure.kind = control::FailureKind::kHttpStatus;
    failure.http_status = status;
    stats.failure = failure;
    co_return make_error(ErrorCode::kUpstreamError, "upstream answered " + std::to_string(status));
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime d,
                                                   providers::CallStats& stats,
                                                   core::StreamSink&) override {
    auto r = co_await complete(req, d, stats);
    co_return r;
  }
};

// Two deployments "a" and "b" of m1 with the given own limits (config `deployments:`).
config::Model two_deployments(int64_t limit_a, int64_t limit_b, int64_t max_queue_ms = 5000) {
  config::Model m = model_config(0, max_queue_ms);
  m.deployments = {config::Deployment{"http://a", "", "a", limit_a},
                   config::Deployment{"http://b", "", "b", limit_b}};
  return m;
}

std::vector<ModelDeployment> deployments(std::unique_ptr<providers::ModelClient> a,
                                         std::unique_ptr<providers::ModelClient> b) {
  std::vector<ModelDeployment> out;
  out.push_back(ModelDeployment{"a", std::move(a)});
  out.push_back(ModelDeployment{"b", std::move(b)});
  return out;
}

// Runs `n` calls at once; returns their results (in start order).
std::vector<Result<core::Completion>> call_at_once(ModelRuntime& rt, int n,
                                                   std::vector<core::Trace>& traces) {
  asio::io_context ioc;
  traces.assign(static_cast<std::size_t>(n), core::Trace{});
  std::vector<std::optional<Result<core::Completion>>> out(static_cast<std::size_t>(n));
  auto req = request("x");
  for (std::size_t i = 0; i < out.size(); ++i) {
    asio::co_spawn(
        ioc,
        [&, i]() -> asio::awaitable<void> {
          ExecContext ctx{traces[i], SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
          out[i].emplace(co_await rt.call(req, ctx, nullptr));
        },
        asio::detached);
  }
  ioc.run();
  std::vector<Result<core::Completion>> results;
  for (auto& r : out) results.push_back(std::move(*r));
  return results;
}

TEST(ModelRuntime, ADeploymentAtItsOwnLimitLeavesTheCallsToAnother) {
  auto a = std::make_unique<FakeClient>();
  auto b = std::make_unique<FakeClient>();
  a->delay = b->delay = std::chrono::milliseconds(50);
  FakeClient* fake_a = a.get();
  FakeClient* fake_b = b.get();
  ModelRuntime rt(two_deployments(/*a=*/1, /*b=*/0), deployments(std::move(a), std::move(b)));
  std::vector<core::Trace> traces;
  const auto results = call_at_once(rt, 10, traces);
  for (const auto& r : results) EXPECT_TRUE(r.ok());
  EXPECT_EQ(fake_a->max_in_flight, 1);  // never past its own limit
  EXPECT_EQ(fake_b->max_in_flight, 9);  // took the rest at once: nobody queued behind "a"
  for (const auto& t : traces) EXPECT_LT(t.queue_us, 20'000);  // "a"'s calls take 50 ms
  EXPECT_EQ(rt.deployment_gate(0).in_use(), 0);
  EXPECT_EQ(rt.deployment_gate(0).limit(), 1);
  EXPECT_EQ(rt.deployment_gate(1).limit(), 0);
}

TEST(ModelRuntime, WhenEveryDeploymentIsAtItsLimitCallsQueueThenAreShed) {
  {  // room comes back within max_queue_ms: every call is answered, one per deployment at a time
    auto a = std::make_unique<FakeClient>();
    auto b = std::make_unique<FakeClient>();
    a->delay = b->delay = std::chrono::milliseconds(20);
    FakeClient* fake_a = a.get();
    FakeClient* fake_b = b.get();
    ModelRuntime rt(two_deployments(1, 1), deployments(std::move(a), std::move(b)));
    std::vector<core::Trace> traces;
    const auto results = call_at_once(rt, 6, traces);
    for (const auto& r : results) EXPECT_TRUE(r.ok());
    EXPECT_EQ(fake_a->max_in_flight, 1);
    EXPECT_EQ(fake_b->max_in_flight, 1);
    int queued = 0;
    for (const auto& t : traces) queued += t.queue_us > 0 ? 1 : 0;
    EXPECT_GE(queued, 4);
  }
  {  // it does not: the third call is shed with the usual 503 and the limits in the log detail
    auto a = std::make_unique<FakeClient>();
    auto b = std::make_unique<FakeClient>();
    a->delay = b->delay = std::chrono::milliseconds(300);
    ModelRuntime rt(two_deployments(1, 1, /*max_queue_ms=*/20),
                    deployments(std::move(a), std::move(b)));
    std::vector<core::Trace> traces;
    const auto results = call_at_once(rt, 3, traces);
    int ok = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        ++ok;
        continue;
      }
      EXPECT_EQ(results[i].error().code, ErrorCode::kUnavailable);
      EXPECT_EQ(results[i].error().retry_after_s, 1);
      EXPECT_NE(results[i].error().message.find("concurrency limit"), std::string::npos);
      EXPECT_NE(results[i].error().internal.find("deployment 'a' 1"), std::string::npos);
      ASSERT_EQ(traces[i].spans.size(), 1u);
      EXPECT_EQ(traces[i].spans[0].shed, "rejected");
      EXPECT_GE(traces[i].spans[0].queue_us, 15'000);
      EXPECT_EQ(traces[i].queue_us, traces[i].spans[0].queue_us);  // counted once
    }
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(rt.deployment_gate(0).waiting(), 0);
    EXPECT_EQ(rt.deployment_gate(1).waiting(), 0);
  }
}

TEST(ModelRuntime, ARetryIsChargedToTheBudgetOfTheDeploymentThatFailed) {
  auto a = std::make_unique<FailingClient>();
  auto b = std::make_unique<FakeClient>();
  FailingClient* failing = a.get();
  config::Model m = two_deployments(0, 0);
  m.resilience.retries.max = 1;
  m.resilience.retries.base_ms = 1;
  m.resilience.retries.cap_ms = 1;
  m.resilience.breaker.consecutive_failures = 0;  // keep "a" in play
  m.resilience.breaker.failure_rate = 0;
  b->delay = std::chrono::milliseconds(100);  // "b" fills up, so "a" keeps being picked
  ModelRuntime rt(m, deployments(std::move(a), std::move(b)));
  const int n = 40;
  std::vector<core::Trace> traces;
  const auto results = call_at_once(rt, n, traces);
  int retried = 0;
  int not_retried = 0;  // by the budget, or (as "a" looks ever slower) the deadline
  int refused_by_budget = 0;
  for (int i = 0; i < n; ++i) {
    const core::Span& span = traces[static_cast<std::size_t>(i)].spans.back();
    retried += span.retries.empty() ? 0 : 1;
    not_retried += span.no_retry.empty() ? 0 : 1;
    if (span.no_retry == "budget_exhausted") ++refused_by_budget;
    EXPECT_EQ(results[static_cast<std::size_t>(i)].ok(), span.no_retry.empty());
  }
  const control::RetryBudget::Usage on_a = rt.retry_budget(0).usage();
  const control::RetryBudget::Usage on_b = rt.retry_budget(1).usage();
  ASSERT_GT(failing->calls, 0) << "the balancer never picked deployment a";
  EXPECT_EQ(on_a.retries, retried);
  EXPECT_EQ(on_b.retries, 0);  // b never failed: its budget is untouched
  EXPECT_EQ(on_a.calls + on_b.calls, n);
  EXPECT_LE(on_a.retries, on_a.allowed);
  EXPECT_EQ(failing->calls, on_a.calls);  // "a" only ever took first attempts
  EXPECT_EQ(not_retried, on_a.calls - on_a.retries);
  EXPECT_GT(refused_by_budget, 0) << "a's budget was never spent: the test shows nothing";
}

TEST(RouteTable, BuildsModelsAndModelRoutesAndRefusesBadOnes) {
  config::Config cfg = config::parse_config(R"(
models:
  - name: a
    provider: openai
    endpoint: http://127.0.0.1:9/v1
    tier: small
routes:
  - name: r
    type: model
    model: a
)", "t.yaml");
  providers::ProviderRegistry reg;
  reg.add("openai", [](const config::Config&, const config::Model&, const providers::EnvLookup&) {
    return std::make_unique<FakeClient>();
  });
  auto env = [](const char*) -> const char* { return nullptr; };
  auto table = RouteTable::build(cfg, reg, env);
  ASSERT_NE(table->find("a"), nullptr);
  ASSERT_NE(table->find("r"), nullptr);
  EXPECT_EQ(table->find("r")->kind(), "model/1");
  EXPECT_EQ(table->find("nope"), nullptr);
  EXPECT_EQ(table->route_names(), std::vector<std::string>{"r"});

  config::Config bad = config::parse_config(R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
  - name: r
    type: model
    model: b
)", "t.yaml");
  try {
    (void)RouteTable::build(bad, reg, env);
    FAIL() << "expected a ConfigError";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("t.yaml:7: routes[0].model: unknown model 'b'"),
              std::string::npos)
        << e.what();
  }
  config::Config bad_kind = config::parse_config(R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
  - {name: r, type: telepathy}
)", "t.yaml");
  try {
    (void)RouteTable::build(bad_kind, reg, env);
    FAIL() << "expected a ConfigError";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown route type 'telepathy'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace triage::routes
