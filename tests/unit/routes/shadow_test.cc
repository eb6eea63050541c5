#include "routes/shadow_route.h"

#include <gtest/gtest.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "route_harness.h"
#include "routes/rules.h"
#include "routes/split_route.h"

namespace triage::routes {
namespace {

namespace asio = boost::asio;
using testing::RecordingSink;
using testing::ScriptedClient;
using testing::build_error;
using testing::user_request;

// A model client whose calls wait on a manual gate (a timer that never expires by itself and
// is released by cancel()), so a test decides when the shadow call finishes.
class GatedClient final : public providers::ModelClient {
 public:
  std::string answer = "gated answer";
  asio::steady_timer* gate = nullptr;
  int calls = 0;
  int finished = 0;

  std::string_view name() const override { return "gated/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest&, SteadyTime,
                                                     providers::CallStats&) override {
    ++calls;
    boost::system::error_code ec;
    if (gate) co_await gate->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    ++finished;
    core::Completion c;
    c.content = answer;
    c.usage = {10, 5, 0, false};
    co_return c;
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime d,
                                                   providers::CallStats& s,
                                                   core::StreamSink&) override {
    co_return co_await complete(req, d, s);
  }
};

const char* kModels = R"(
models:
  - {name: primary, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
  - {name: gated, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
routes:
  - name: router
    type: rules
    rules:
      - {name: hard, when: {keywords: [prove]}, route: large}
    default: small
)";

// Route table whose model `gated` is a GatedClient and every other model a ScriptedClient.
class ShadowHarness {
 public:
  explicit ShadowHarness(const std::string& routes)
      : cfg_(config::parse_config(std::string(kModels) + routes, "t.yaml")) {
    register_rules_fallback_cascade_kinds();
    register_shadow_kind();
    reg_.add("openai", [this](const config::Config&, const config::Model& m,
                              const providers::EnvLookup&) -> std::unique_ptr<providers::ModelClient> {
      if (m.name == "gated") {
        auto g = std::make_unique<GatedClient>();
        gated_ = g.get();
        return g;
      }
      auto c = std::make_unique<ScriptedClient>();
      c->answer = "answer from " + m.name;
      fakes_[m.name] = c.get();
      return c;
    });
    table_ = RouteTable::build(cfg_, reg_, [](const char*) -> const char* { return nullptr; });
  }
  ScriptedClient& fake(const std::string& name) { return *fakes_.at(name); }
  GatedClient& gated() { return *gated_; }
  Route& route(const std::string& name) { return *table_->find(name); }

 private:
  config::Config cfg_;
  providers::ProviderRegistry reg_;
  std::map<std::string, ScriptedClient*> fakes_;
  GatedClient* gated_ = nullptr;
  std::unique_ptr<RouteTable> table_;
};

core::ChatRequest request(const std::string& text, const std::string& id = "req_1") {
  core::ChatRequest r = user_request(text);
  r.meta.request_id = id;
  r.meta.user = "alice";
  return r;
}

// One request through `route` on `ioc` with emit_derived collecting into `derived`. Runs the
// io_context only until the route returned; the caller runs the rest (the shadow work).
struct Outcome {
  core::Trace trace;
  std::optional<Result<core::Completion>> result;
  std::vector<std::string> events;  // "primary", then "derived:<request id>" as they happen
  std::vector<core::Trace> derived;
};

void start(asio::io_context& ioc, Route& route, core::ChatRequest req, Outcome& run,
           core::StreamSink* sink, bool with_emit = true) {
  run.trace.request_id = req.meta.request_id;
  run.trace.user = req.meta.user;
  auto ctx = std::make_shared<ExecContext>(
      ExecContext{run.trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(30)});
  if (with_emit) {
    ctx->emit_derived = [&run](core::Trace&& t) {
      run.events.push_back("derived:" + t.request_id);
      run.derived.push_back(std::move(t));
    };
  }
  auto owned = std::make_shared<core::ChatRequest>(std::move(req));
  asio::co_spawn(
      ioc,
      [&route, &run, ctx, owned, sink]() mutable -> asio::awaitable<void> {
        run.result.emplace(co_await route.run(*owned, *ctx, sink));
        run.events.push_back("primary");
        // Like the gateway: the request and its context end with the request's coroutine.
        owned.reset();
        ctx.reset();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  while (!run.result) {
    if (ioc.run_one() == 0) throw std::runtime_error("the route did not finish");
  }
}

TEST(Agrees, WhitespaceAndExtractedAnswers) {
  EXPECT_TRUE(agrees("  The  answer\n is 4 ", "The answer is 4"));
  EXPECT_TRUE(agrees("so the total is 42.", "42"));
  EXPECT_TRUE(agrees("The answer is (B).", "B"));
  EXPECT_FALSE(agrees("The answer is (B).", "The answer is (C)."));
  EXPECT_FALSE(agrees("hello there", "goodbye"));
}

TEST(ShadowRoute, PrimaryAnswersFirstThenTheShadowIsLogged) {
  ShadowHarness h(R"(  - {name: sh, type: shadow, primary: primary, candidates: [gated]}
)");
  asio::io_context ioc;
  asio::steady_timer gate(ioc, SteadyTime::max());
  h.gated().gate = &gate;
  h.gated().answer = "answer from primary";
  Outcome run;
  RecordingSink sink;
  start(ioc, h.route("sh"), request("hi"), run, &sink);

  // The primary answered, streamed as usual, before any shadow work started.
  ASSERT_TRUE(*run.result);
  EXPECT_EQ((*run.result)->content, "answer from primary");
  EXPECT_EQ(sink.text, "answer from primary");
  EXPECT_EQ(h.fake("primary").stream_calls, 1);
  EXPECT_EQ(run.events, std::vector<std::string>{"primary"});
  EXPECT_EQ(run.trace.model, "primary");
  EXPECT_EQ(h.gated().calls, 0);

  ioc.poll();  // the shadow starts and waits on the gate
  EXPECT_EQ(h.gated().calls, 1);
  EXPECT_EQ(h.gated().finished, 0);
  EXPECT_TRUE(run.derived.empty());

  gate.cancel();  // let the shadow call finish
  ioc.run();
  EXPECT_EQ(run.events, (std::vector<std::string>{"primary", "derived:req_1-s0"}));
  ASSERT_EQ(run.derived.size(), 1u);
  const core::Trace& d = run.derived[0];
  EXPECT_EQ(d.route, "sh");
  EXPECT_EQ(d.requested_model, "gated");
  EXPECT_EQ(d.model, "gated");
  EXPECT_EQ(d.user, "alice");
  EXPECT_EQ(d.flags, std::vector<core::ReviewFlag>{core::ReviewFlag::kShadow});
  EXPECT_FALSE(d.stream);
  ASSERT_FALSE(d.spans.empty());
  EXPECT_EQ(d.spans.back().kind, core::SpanKind::kRoute);
  EXPECT_EQ(d.spans.back().name, "sh");
  EXPECT_EQ(d.spans.back().detail, "agrees with primary");
  EXPECT_GE(d.total_us, 0);
  // The primary's trace has no trace of the shadow.
  for (const core::Span& s : run.trace.spans) EXPECT_NE(s.name, "gated");
}

TEST(ShadowRoute, EachCandidateGetsItsOwnTraceWithAgreement) {
  ShadowHarness h(R"(  - {name: sh, type: shadow, primary: primary, candidates: [small, large]}
)");
  h.fake("primary").answer = "Working it out... the result is 12.";
  h.fake("small").answer = "12";
  h.fake("large").answer = "13";
  asio::io_context ioc;
  Outcome run;
  start(ioc, h.route("sh"), request("what is 3*4?"), run, nullptr);
  ioc.run();
  ASSERT_EQ(run.derived.size(), 2u);
  EXPECT_EQ(run.derived[0].request_id, "req_1-s0");
  EXPECT_EQ(run.derived[0].spans.back().detail, "agrees with primary");
  EXPECT_EQ(run.derived[1].request_id, "req_1-s1");
  EXPECT_EQ(run.derived[1].model, "large");
  EXPECT_EQ(run.derived[1].spans.back().detail, "differs from primary");
  // The typed verdict (what a rollout's agreement gate reads), not the detail text.
  EXPECT_EQ(run.derived[0].spans.back().agrees, std::optional<bool>(true));
  EXPECT_EQ(run.derived[1].spans.back().agrees, std::optional<bool>(false));
  EXPECT_EQ(h.fake("primary").calls, 1);
  EXPECT_EQ(h.fake("small").calls, 1);
  EXPECT_EQ(h.fake("large").calls, 1);
}

TEST(ShadowRoute, FailedCandidateIsLoggedAsAnError) {
  ShadowHarness h(R"(  - {name: sh, type: shadow, primary: primary, candidates: [small]}
)");
  h.fake("small").fail = make_error(ErrorCode::kUpstreamTimeout, "slow");
  asio::io_context ioc;
  Outcome run;
  start(ioc, h.route("sh"), request("hi"), run, nullptr);
  ioc.run();
  ASSERT_TRUE(*run.result);
  ASSERT_EQ(run.derived.size(), 1u);
  EXPECT_EQ(run.derived[0].error_code, "upstream_timeout");
  EXPECT_FALSE(run.derived[0].spans.back().ok);
  EXPECT_EQ(run.derived[0].spans.back().detail, "candidate failed");
}

TEST(ShadowRoute, SamplingIsDeterministicByRequestId) {
  ShadowHarness h(R"(  - {name: sh, type: shadow, primary: primary, candidates: [small], sample: 0.3}
)");
  auto& sh = dynamic_cast<ShadowRoute&>(h.route("sh"));
  int in = 0;
  for (int i = 0; i < 5000; ++i) in += sh.sampled(request("x", "req_" + std::to_string(i)));
  EXPECT_NEAR(in / 5000.0, 0.3, 0.03);

  std::string yes, no;
  for (int i = 0; (yes.empty() || no.empty()) && i < 100; ++i) {
    std::string id = "req_" + std::to_string(i);
    (sh.sampled(request("x", id)) ? yes : no) = id;
  }
  ASSERT_FALSE(yes.empty());
  ASSERT_FALSE(no.empty());
  {
    asio::io_context ioc;
    Outcome run;
    start(ioc, sh, request("hi", no), run, nullptr);
    ioc.run();
    EXPECT_TRUE(run.derived.empty());
    EXPECT_EQ(h.fake("small").calls, 0);
  }
  {
    asio::io_context ioc;
    Outcome run;
    start(ioc, sh, request("hi", yes), run, nullptr);
    ioc.run();
    ASSERT_EQ(run.derived.size(), 1u);
    EXPECT_EQ(run.derived[0].request_id, yes + "-s0");
    EXPECT_EQ(h.fake("small").calls, 1);
  }
  EXPECT_EQ(h.fake("primary").calls, 2);
}

TEST(ShadowRoute, SampleZeroAndNoEmitterSkipTheCandidates) {
  ShadowHarness none(R"(  - {name: sh, type: shadow, primary: primary, candidates: [small], sample: 0}
)");
  asio::io_context ioc;
  Outcome run;
  start(ioc, none.route("sh"), request("hi"), run, nullptr);
  ioc.run();
  EXPECT_TRUE(run.derived.empty());
  EXPECT_EQ(none.fake("small").calls, 0);

  // `triage eval` leaves emit_derived empty: nothing would log the shadow, so nothing runs.
  ShadowHarness eval(R"(  - {name: sh, type: shadow, primary: primary, candidates: [small]}
)");
  asio::io_context ioc2;
  Outcome run2;
  start(ioc2, eval.route("sh"), request("hi"), run2, nullptr, /*with_emit=*/false);
  ioc2.run();
  ASSERT_TRUE(*run2.result);
  EXPECT_EQ((*run2.result)->content, "answer from primary");
  EXPECT_EQ(eval.fake("small").calls, 0);
}

TEST(ShadowRoute, DecideOnlyRecordsTheDecisionWithoutAModelCall) {
  ShadowHarness h(R"(  - name: sh
    type: shadow
    primary: primary
    candidates: [router]
    decide_only: true
)");
  asio::io_context ioc;
  Outcome run;
  start(ioc, h.route("sh"), request("please prove this lemma"), run, nullptr);
  ioc.run();
  ASSERT_TRUE(*run.result);
  EXPECT_EQ((*run.result)->content, "answer from primary");
  EXPECT_TRUE(run.derived.empty());
  EXPECT_EQ(h.fake("primary").calls, 1);
  EXPECT_EQ(h.fake("large").calls, 0);
  EXPECT_EQ(h.fake("small").calls, 0);
  bool found = false;
  for (const core::Span& s : run.trace.spans) {
    if (s.kind == core::SpanKind::kRoute && s.name == "router") {
      EXPECT_EQ(s.detail, "shadow decision: large (hard)");
      EXPECT_EQ(s.shadow_decision, "large");
      found = true;
    } else {
      EXPECT_EQ(s.shadow_decision, "") << s.name;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(run.trace.model, "primary");

  Outcome easy;
  ioc.restart();
  start(ioc, h.route("sh"), request("hello", "req_2"), easy, nullptr);
  ASSERT_FALSE(easy.trace.spans.empty());
  EXPECT_EQ(easy.trace.spans.front().detail, "shadow decision: small (default)");
  EXPECT_EQ(easy.trace.spans.front().shadow_decision, "small");
}

TEST(ShadowRoute, DecideOnlyNeedsDeciders) {
  register_shadow_kind();
  const std::string err = build_error(std::string(kModels) + R"(  - name: sh
    type: shadow
    primary: primary
    candidates: [router, small]
    decide_only: true
)");
  EXPECT_NE(err.find("routes[1].candidates[1]"), std::string::npos) << err;
  EXPECT_NE(err.find("cannot decide without calling a model"), std::string::npos) << err;
  const std::string sample = build_error(std::string(kModels) +
      "  - {name: sh, type: shadow, primary: primary, candidates: [small], sample: 1.5}\n");
  EXPECT_NE(sample.find("routes[1].sample: must be between 0 and 1"), std::string::npos)
      << sample;
  const std::string empty = build_error(std::string(kModels) +
      "  - {name: sh, type: shadow, primary: primary, candidates: []}\n");
  EXPECT_NE(empty.find("routes[1].candidates"), std::string::npos) << empty;
}

}  // namespace
}  // namespace triage::routes
