// Capability-aware routing (routes/eligibility.h): a model that cannot take a request is
// skipped like an open circuit, with a typed skip span; nothing eligible left is a 400.
#include "routes/eligibility.h"

#include <gtest/gtest.h>

#include "checks/builtin.h"
#include "route_harness.h"

namespace triage::routes {
namespace {

using testing::Harness;
using testing::user_request;

// "short" holds 8k tokens, "long" 128k; "notools" cannot call tools.
const std::string kConfig = R"(
models:
  - {name: short, provider: openai, endpoint: "http://127.0.0.1:9/v1", context_window: 8000, tier: small}
  - {name: notools, provider: openai, endpoint: "http://127.0.0.1:9/v1", capabilities: {tools: false}}
  - {name: long, provider: openai, endpoint: "http://127.0.0.1:9/v1", context_window: 128000, max_output_tokens: 4096, tier: large}
routes:
  - name: fb
    type: fallback
    children: [short, long]
  - name: fb_short
    type: fallback
    children: [short, notools]
  - name: casc
    type: cascade
    steps:
      - {route: short, checks: [non_empty]}
      - {route: long}
)";

// About 12k tokens by core::estimate_tokens.
core::ChatRequest long_request() {
  std::string text;
  for (int i = 0; i < 9000; ++i) text += "word ";
  return user_request(text);
}

class Eligibility : public ::testing::Test {
 protected:
  void SetUp() override { checks::register_builtin_checks(); }
};

const core::Span* skip_span(const core::Trace& t, const std::string& model) {
  for (const core::Span& s : t.spans) {
    if (s.name == model && s.skipped) return &s;
  }
  return nullptr;
}

TEST_F(Eligibility, FallbackSkipsTheShortContextModelWithATypedReason) {
  Harness h(kConfig);
  core::Trace trace;
  auto r = h.run("fb", long_request(), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "answer from long");
  EXPECT_EQ(h.fake("short").calls, 0);
  const core::Span* s = skip_span(trace, "short");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->skipped->kind, core::SkipKind::kContext);
  EXPECT_EQ(s->skipped->limit, 8000);
  EXPECT_GT(s->skipped->need, 8000);
  EXPECT_EQ(s->detail, "skipped: " + core::skip_reason_text(*s->skipped));
  EXPECT_EQ(s->error, "no_eligible_model");
  EXPECT_EQ(trace.model, "long");
}

TEST_F(Eligibility, CascadeSkipsTheShortContextStep) {
  Harness h(kConfig);
  core::Trace trace;
  auto r = h.run("casc", long_request(), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "answer from long");
  EXPECT_EQ(h.fake("short").calls, 0);
  ASSERT_NE(skip_span(trace, "short"), nullptr);
  EXPECT_EQ(trace.spans.back().cascade->step, 1);
}

TEST_F(Eligibility, AShortRequestStillGoesToTheCheapModel) {
  Harness h(kConfig);
  core::Trace trace;
  auto r = h.run("casc", user_request("hello"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from short");
  EXPECT_EQ(skip_span(trace, "short"), nullptr);
}

TEST_F(Eligibility, NothingEligibleIsA400ThatNamesEveryUnmetNeed) {
  Harness h(kConfig);
  core::ChatRequest req = long_request();
  req.body["tools"] = boost::json::array{boost::json::object{{"type", "function"}}};
  core::Trace trace;
  auto r = h.run("fb_short", req, trace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNoEligibleModel);
  EXPECT_EQ(h.fake("short").calls + h.fake("notools").calls, 0);
  EXPECT_NE(r.error().message.find("'short' (context "), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("'notools' (tools)"), std::string::npos) << r.error().message;
}

TEST_F(Eligibility, MaxOutputAboveTheModelsLimitIsRefused) {
  Harness h(kConfig);
  core::ChatRequest req = user_request("hi");
  req.max_tokens = 8000;
  core::Trace trace;
  auto r = h.run("long", req, trace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNoEligibleModel);
  ASSERT_NE(skip_span(trace, "long"), nullptr);
  EXPECT_EQ(skip_span(trace, "long")->detail, "skipped: max_output 8000 > 4096");
  EXPECT_EQ(h.fake("long").calls, 0);
}

TEST_F(Eligibility, ModelRouteRefusalSaysWhy) {
  Harness h(kConfig);
  Route* r = h.table().find("short");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->refusal(user_request("hi")));
  std::optional<Refusal> refused = r->refusal(long_request());
  ASSERT_TRUE(refused);
  ASSERT_TRUE(refused->ineligible);
  EXPECT_EQ(refused->ineligible->kind, core::SkipKind::kContext);
}

}  // namespace
}  // namespace triage::routes
