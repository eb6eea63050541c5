// SseSink: the framing of a streamed answer (headers with the first delta, batching by
// Delta::more, finish/usage chunk with the triage object, [DONE], the cost trailer) and the
// latency split it reports.
#include "server/sse_sink.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/result.h"
#include "test_http.h"

namespace triage::server {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using testing::RecordingWriter;
using testing::run_to_end;
using testing::sse_data;

core::Trace answered_trace() {
  core::Trace t;
  t.request_id = "req_00112233445566778899aabb";
  t.model = "small-model";
  t.tier = "small";
  t.route = "support";
  t.cost_usd = 0.00012;
  t.routing_us = 1500;
  t.queue_us = 250;
  t.upstream_us = 40000;
  t.upstream_ttfb_us = 9000;
  return t;
}

core::Completion completion() {
  core::Completion c;
  c.content = "Hello there";
  c.finish_reason = "stop";
  c.usage.prompt_tokens = 3;
  c.usage.completion_tokens = 2;
  return c;
}

const json::object& choice0(const json::value& chunk) {
  return chunk.at("choices").as_array().at(0).as_object();
}

// A start time `ago_us` before now: the sink measures the total from it.
SteadyTime started_ago(int64_t ago_us) {
  return SteadyClock::now() - std::chrono::microseconds(ago_us);
}

TEST(SseSink, HeadersGoOutWithTheFirstDeltaAndBatchesFollowDeltaMore) {
  RecordingWriter out;
  core::Trace trace = answered_trace();
  SseSink sink(out, trace, started_ago(50000), 1700000000, api::chat_stream_renderer(false));
  EXPECT_FALSE(sink.started());
  run_to_end([&]() -> asio::awaitable<void> {
    core::Delta first;
    first.role = "assistant";
    first.content = "Hello";
    first.more = true;  // batched: nothing written yet
    EXPECT_TRUE(co_await sink.write(first));
    EXPECT_EQ(out.stream_starts, 1);
    EXPECT_TRUE(out.chunks.empty());
    core::Delta second;
    second.content = " there";
    EXPECT_TRUE(co_await sink.write(second));  // ends the batch: one write
  });
  EXPECT_TRUE(sink.started());
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.content_type, "text/event-stream");
  EXPECT_EQ(out.trailer_names, "x-triage-cost-usd");
  EXPECT_EQ(out.header("x-request-id"), "req_00112233445566778899aabb");
  EXPECT_EQ(out.header("x-triage-model"), "small-model");
  EXPECT_EQ(out.header("x-triage-route"), "support");
  EXPECT_EQ(out.header("x-triage-tier"), "small");
  ASSERT_EQ(out.chunks.size(), 1u);
  const auto events = sse_data(out.chunks[0]);
  ASSERT_EQ(events.size(), 3u);  // role chunk, then the two deltas
  EXPECT_EQ(choice0(events[0]).at("delta").at("role"), "assistant");
  EXPECT_EQ(choice0(events[0]).at("delta").at("content"), "");
  EXPECT_EQ(choice0(events[1]).at("delta").at("content"), "Hello");
  EXPECT_FALSE(choice0(events[1]).at("delta").as_object().contains("role"));
  EXPECT_EQ(choice0(events[2]).at("delta").at("content"), " there");
  EXPECT_EQ(events[0].at("id"), "chatcmpl-00112233445566778899aabb");
  EXPECT_EQ(events[0].at("model"), "small-model");
  EXPECT_EQ(events[0].at("created"), 1700000000);
}

TEST(SseSink, FinishSendsFinishChunkTriageDoneAndCostTrailerWithTheSplitCompleted) {
  RecordingWriter out;
  core::Trace trace = answered_trace();
  const int64_t parts_us = trace.routing_us + trace.queue_us + trace.upstream_us;
  SseSink sink(out, trace, started_ago(parts_us + 3000), 1700000000, api::chat_stream_renderer(false));
  run_to_end([&]() -> asio::awaitable<void> {
    core::Delta d;
    d.role = "assistant";
    d.content = "Hello there";
    EXPECT_TRUE(co_await sink.write(d));
    EXPECT_TRUE(co_await sink.finish(completion()));
  });
  EXPECT_EQ(out.stream_ends, 1);
  ASSERT_EQ(out.trailers.size(), 1u);
  EXPECT_EQ(out.trailers[0].first, "x-triage-cost-usd");
  EXPECT_EQ(out.trailers[0].second, "0.0001200000");
  const auto events = sse_data(out.last_data);
  ASSERT_EQ(events.size(), 2u);  // finish chunk (with triage), [DONE]
  EXPECT_EQ(events[1], "[DONE]");
  EXPECT_EQ(choice0(events[0]).at("finish_reason"), "stop");
  const json::object& triage = events[0].at("triage").as_object();
  EXPECT_EQ(triage.at("request_id"), "req_00112233445566778899aabb");
  const json::object& lat = triage.at("latency_ms").as_object();
  // The bug this guards: a stream reported total 0 and overhead 0.
  const double total = lat.at("total").to_number<double>();
  const double overhead = lat.at("overhead").to_number<double>();
  EXPECT_GE(total, (parts_us + 3000) / 1000.0);
  EXPECT_GE(overhead, 3.0);
  EXPECT_NEAR(lat.at("routing").to_number<double>() + lat.at("queue").to_number<double>() +
                  lat.at("upstream").to_number<double>() + overhead,
              total, 0.0015);
  // The trace holds the same split (the store gets it re-completed at the very end).
  EXPECT_EQ(trace.total_us, static_cast<int64_t>(total * 1000 + 0.5));
  EXPECT_EQ(trace.overhead_us, trace.total_us - parts_us);
}

TEST(SseSink, WithIncludeUsageTheTriageObjectRidesOnTheUsageChunk) {
  RecordingWriter out;
  core::Trace trace = answered_trace();
  SseSink sink(out, trace, started_ago(60000), 1700000000, api::chat_stream_renderer(true));
  run_to_end([&]() -> asio::awaitable<void> { co_await sink.finish(completion()); });
  // finish() without any delta still starts the stream and sends the role chunk.
  EXPECT_EQ(out.stream_starts, 1);
  const auto events = sse_data(out.last_data);
  ASSERT_EQ(events.size(), 4u);  // role, finish, usage (with triage), [DONE]
  EXPECT_EQ(choice0(events[0]).at("delta").at("role"), "assistant");
  EXPECT_TRUE(events[0].at("usage").is_null());
  EXPECT_FALSE(events[1].as_object().contains("triage"));
  EXPECT_TRUE(events[2].at("choices").as_array().empty());
  EXPECT_EQ(events[2].at("usage").at("total_tokens"), 5);
  EXPECT_GT(events[2].at("triage").at("latency_ms").at("total").to_number<double>(), 40.0);
  EXPECT_EQ(events[3], "[DONE]");
}

TEST(SseSink, FailEndsTheStreamWithAnErrorEventAndNoDone) {
  RecordingWriter out;
  core::Trace trace = answered_trace();
  SseSink sink(out, trace, started_ago(1000), 1700000000, api::chat_stream_renderer(false));
  run_to_end([&]() -> asio::awaitable<void> {
    core::Delta d;
    d.role = "assistant";
    d.content = "partial";
    d.more = true;  // still batched when the failure comes: sent before the error
    co_await sink.write(d);
    co_await sink.fail(make_error(ErrorCode::kUpstreamError, "upstream broke mid-stream"));
  });
  EXPECT_TRUE(out.chunks.empty());
  const auto events = sse_data(out.last_data);
  ASSERT_EQ(events.size(), 3u);  // role, "partial", error
  EXPECT_EQ(choice0(events[1]).at("delta").at("content"), "partial");
  EXPECT_EQ(events[2].at("error").at("message"), "upstream broke mid-stream");
  EXPECT_EQ(out.last_data.find("[DONE]"), std::string::npos);
  ASSERT_EQ(out.trailers.size(), 1u);
  EXPECT_EQ(out.trailers[0].first, "x-triage-cost-usd");
}

TEST(SseSink, WriteReportsAClientThatWentAway) {
  RecordingWriter out;
  out.client_gone = true;
  core::Trace trace = answered_trace();
  SseSink sink(out, trace, SteadyClock::now(), 1700000000, api::chat_stream_renderer(false));
  bool delivered = true;
  run_to_end([&]() -> asio::awaitable<void> {
    core::Delta d;
    d.content = "x";
    delivered = co_await sink.write(d);
  });
  EXPECT_FALSE(delivered);
}

TEST(SseSink, HeadersAndCostFormat) {
  core::Trace direct;
  direct.request_id = "req_1";
  const net::HeaderList h = triage_headers(direct);
  ASSERT_EQ(h.size(), 1u);  // no model, route or tier yet: only the id
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"x-request-id", "req_1"}));
  EXPECT_EQ(format_usd(0.5), "0.5000000000");
  EXPECT_EQ(format_usd(0), "0.0000000000");
}

}  // namespace
}  // namespace triage::server
