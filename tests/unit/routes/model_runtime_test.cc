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
