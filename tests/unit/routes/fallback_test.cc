#include "routes/fallback.h"

#include <gtest/gtest.h>

#include "route_harness.h"

namespace triage::routes {
namespace {

using testing::Harness;
using testing::build_error;
using testing::user_request;

const std::string kConfig = R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
  - {name: b, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
  - {name: c, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
  - name: fb
    type: fallback
    children: [a, b, c]
)";

class FallbackOnError : public ::testing::TestWithParam<ErrorCode> {};

TEST_P(FallbackOnError, MovesToTheNextChildAndKeepsEveryAttempt) {
  Harness h(kConfig);
  h.fake("a").fail = make_error(GetParam(), "a is down");
  core::Trace trace;
  auto r = h.run("fb", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from b");
  EXPECT_EQ(h.fake("c").calls, 0);
  ASSERT_EQ(trace.spans.size(), 3u);
  EXPECT_EQ(trace.spans[0].name, "a");
  EXPECT_FALSE(trace.spans[0].ok);
  EXPECT_EQ(trace.spans[0].error, error_code_name(GetParam()));
  EXPECT_EQ(trace.spans[1].name, "b");
  EXPECT_TRUE(trace.spans[1].ok);
  EXPECT_EQ(trace.spans[2].kind, core::SpanKind::kRoute);
  EXPECT_EQ(trace.spans[2].detail, "fallback/1: 'a' failed (" +
                                       std::string(error_code_name(GetParam())) +
                                       "); 'b' answered");
  EXPECT_EQ(trace.model, "b");
}

INSTANTIATE_TEST_SUITE_P(RetryableErrors, FallbackOnError,
                         ::testing::Values(ErrorCode::kUpstreamError, ErrorCode::kUpstreamTimeout,
                                           ErrorCode::kUnavailable, ErrorCode::kRateLimited));

TEST(FallbackRoute, DoesNotFallBackOnAnInvalidRequest) {
  Harness h(kConfig);
  h.fake("a").fail = make_error(ErrorCode::kInvalidRequest, "bad messages");
  core::Trace trace;
  auto r = h.run("fb", user_request("q"), trace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(h.fake("b").calls, 0);
  EXPECT_NE(trace.spans.back().detail.find("stopped: not retried on this error"),
            std::string::npos);
}

TEST(FallbackRoute, ReturnsTheLastErrorWhenEveryChildFails) {
  Harness h(kConfig);
  h.fake("a").fail = make_error(ErrorCode::kUnavailable, "a");
  h.fake("b").fail = make_error(ErrorCode::kRateLimited, "b");
  h.fake("c").fail = make_error(ErrorCode::kUpstreamTimeout, "c");
  core::Trace trace;
  auto r = h.run("fb", user_request("q"), trace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
  ASSERT_EQ(trace.spans.size(), 4u);  // three model calls and the summary
  EXPECT_FALSE(trace.spans[3].ok);
  EXPECT_EQ(trace.spans[3].error, "upstream_timeout");
  EXPECT_NE(trace.spans[3].detail.find("no child left"), std::string::npos);
}

TEST(FallbackRoute, OnListRestrictsTheErrors) {
  Harness h(R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
  - {name: b, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
  - {name: fb, type: fallback, children: [a, b], on: [upstream_timeout]}
)");
  h.fake("a").fail = make_error(ErrorCode::kRateLimited, "slow down");
  core::Trace trace;
  auto r = h.run("fb", user_request("q"), trace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(h.fake("b").calls, 0);
}

TEST(FallbackRoute, StreamingFallsBackBeforeTheFirstDelta) {
  Harness h(kConfig);
  h.fake("a").fail = make_error(ErrorCode::kUpstreamError, "connect refused");
  testing::RecordingSink sink;
  core::Trace trace;
  auto r = h.run("fb", user_request("q"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sink.text, "answer from b");
  EXPECT_EQ(sink.first_role, "assistant");
}

TEST(FallbackRoute, StreamingDoesNotFallBackAfterADelta) {
  Harness h(kConfig);
  h.fake("a").fail = make_error(ErrorCode::kUpstreamError, "connection reset");
  h.fake("a").fail_after_deltas = 1;
  testing::RecordingSink sink;
  core::Trace trace;
  auto r = h.run("fb", user_request("q"), trace, &sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
  EXPECT_EQ(sink.text, "answer ");  // only a's first word; b never streamed
  EXPECT_EQ(h.fake("b").calls, 0);
  EXPECT_NE(trace.spans.back().detail.find("already streamed"), std::string::npos);
}

TEST(FallbackRoute, BadDeclarations) {
  const std::string models = R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
routes:
)";
  std::string e = build_error(models + "  - {name: fb, type: fallback, children: [a]}\n");
  EXPECT_NE(e.find("routes[0].children: a fallback route needs at least two children"),
            std::string::npos)
      << e;
  e = build_error(models + "  - {name: fb, type: fallback, children: [a, zz]}\n");
  EXPECT_NE(e.find("t.yaml:5: routes[0].children[1]: unknown route or model 'zz'"),
            std::string::npos)
      << e;
  e = build_error(models + "  - {name: fb, type: fallback, children: [a, a], on: [timeout]}\n");
  EXPECT_NE(e.find("routes[0].on[0]: unknown on[0] 'timeout'"), std::string::npos) << e;
}

}  // namespace
}  // namespace triage::routes
