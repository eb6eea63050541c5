// The test upstream's own contract: every misbehaviour the gateway tests rely on is checked here
// against the real process, so a gateway test failure points at the gateway, not the fixture.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sys/wait.h>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

std::string chat_body(const std::string& model, bool stream = false, const std::string& extra = "") {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") + extra +
         R"(,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there friend"}]})";
}

class UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GT(up_.port(), 0) << "upstream did not start"; }
  HttpResponse post(const std::string& target, const std::string& body,
                    std::map<std::string, std::string> headers = {}) {
    return http_request(up_.port(), "POST", target, body, headers, Millis(3000));
  }
  Upstream up_;
};

TEST_F(UpstreamTest, ChatCompletionEchoesDeterministically) {
  auto r = post("/v1/chat/completions", chat_body("gpt-x"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = r.json();
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(v.at("object"), "chat.completion");
  EXPECT_EQ(v.at("model"), "gpt-x");
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content"), "echo: hello there friend");
  EXPECT_EQ(v.at("choices").at(0).at("message").at("role"), "assistant");
  EXPECT_EQ(v.at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), 5);  // "be brief" + "hello there friend"
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 4);
  EXPECT_EQ(v.at("usage").at("total_tokens").as_int64(), 9);
}

TEST_F(UpstreamTest, LastRequestAndStatsReportWhatWasSent) {
  auto r = post("/v1/chat/completions", chat_body("gpt-x"), {{"Authorization", "Bearer sk-abc"}});
  ASSERT_EQ(r.status, 200);
  auto last = up_.last_request();
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last.at("method"), "POST");
  EXPECT_EQ(last.at("target"), "/v1/chat/completions");
  EXPECT_EQ(last.at("headers").at("authorization"), "Bearer sk-abc");
  EXPECT_EQ(last.at("body").as_string(), chat_body("gpt-x"));
  EXPECT_EQ(up_.request_count(), 1);  // control endpoints are not counted
}

TEST_F(UpstreamTest, StreamSendsOneWordPerChunkThenUsageThenDone) {
  auto r = http_stream(up_.port(), "/v1/chat/completions",
                       chat_body("gpt-x", true, R"(,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  auto events = parse_sse(r.body);
  ASSERT_EQ(events.size(), 1u + 4u + 1u + 1u + 1u);  // role, 4 words, finish, usage, [DONE]
  EXPECT_EQ(events.back().data, "[DONE]");
  std::string text;
  for (size_t i = 1; i <= 4; ++i)
    text += json::parse(events[i].data).at("choices").at(0).at("delta").at("content").as_string();
  EXPECT_EQ(text, "echo: hello there friend");
  auto finish = json::parse(events[5].data);
  EXPECT_EQ(finish.at("choices").at(0).at("finish_reason"), "stop");
  auto usage = json::parse(events[6].data);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("completion_tokens").as_int64(), 4);
}

TEST_F(UpstreamTest, StreamWithoutIncludeUsageHasNoUsageChunk) {
  auto r = http_stream(up_.port(), "/v1/chat/completions", chat_body("gpt-x", true));
  ASSERT_EQ(r.status, 200);
  for (const auto& e : parse_sse(r.body)) EXPECT_EQ(e.data.find("prompt_tokens"), std::string::npos);
}

TEST_F(UpstreamTest, AnthropicRequiresApiKey) {
  auto r = post("/v1/messages", chat_body("claude"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json().at("type"), "error");
  EXPECT_EQ(r.json().at("error").at("type"), "authentication_error");
}

TEST_F(UpstreamTest, AnthropicMessage) {
  std::string body =
      R"({"model":"claude","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"hi you"}]}]})";
  auto r = post("/v1/messages", body, {{"x-api-key", "k"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = r.json();
  EXPECT_EQ(v.at("type"), "message");
  EXPECT_EQ(v.at("content").at(0).at("text"), "echo: hi you");
  EXPECT_EQ(v.at("stop_reason"), "end_turn");
  EXPECT_EQ(v.at("usage").at("input_tokens").as_int64(), 4);
  EXPECT_EQ(v.at("usage").at("output_tokens").as_int64(), 3);
}

TEST_F(UpstreamTest, AnthropicStreamHasTheRealEventSequence) {
  std::string body = R"({"model":"claude","stream":true,"messages":[{"role":"user","content":"a b"}]})";
  auto r = http_stream(up_.port(), "/v1/messages", body, {{"x-api-key", "k"}});
  ASSERT_EQ(r.status, 200);
  std::vector<std::string> names;
  std::string text;
  for (const auto& e : parse_sse(r.body)) {
    names.push_back(e.event);
    auto v = json::parse(e.data);
    EXPECT_EQ(v.at("type").as_string(), e.event);
    if (e.event == "content_block_delta") text += v.at("delta").at("text").as_string();
    if (e.event == "message_delta") {
      EXPECT_EQ(v.at("delta").at("stop_reason"), "end_turn");
      EXPECT_EQ(v.at("usage").at("output_tokens").as_int64(), 3);
    }
  }
  std::vector<std::string> want{"message_start", "content_block_start", "ping",
                                "content_block_delta", "content_block_delta", "content_block_delta",
                                "content_block_stop", "message_delta", "message_stop"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(text, "echo: a b");
}

TEST_F(UpstreamTest, ErrorModeByHeaderAndByModelName) {
  auto a = post("/v1/chat/completions", chat_body("gpt-x"), {{"x-test-mode", "error-503"}});
  EXPECT_EQ(a.status, 503);
  EXPECT_TRUE(a.json().at("error").at("message").is_string());
  EXPECT_TRUE(a.json().at("error").at("type").is_string());
  auto b = post("/v1/chat/completions", chat_body("mode:error-429"));
  EXPECT_EQ(b.status, 429);
}

TEST_F(UpstreamTest, FailPctFailsThatShareSpreadEvenly) {
  std::vector<int> statuses;
  for (int i = 0; i < 10; ++i) {
    statuses.push_back(post("/v1/chat/completions", chat_body("mode:fail-pct-30")).status);
  }
  // Request k fails when floor(k * 30 / 100) grows: k = 4, 7, 10.
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 500, 200, 200, 500, 200, 200, 500}));
  EXPECT_EQ(post("/v1/chat/completions", chat_body("mode:fail-pct-101")).status, 400);
}

TEST_F(UpstreamTest, UnknownModeIsRejected) {
  EXPECT_EQ(post("/v1/chat/completions", chat_body("mode:bogus")).status, 400);
}

TEST_F(UpstreamTest, SlowDelaysTheHeaders) {
  auto r = http_request(up_.port(), "POST", "/v1/chat/completions", chat_body("mode:slow-5000"), {},
                        Millis(200));
  EXPECT_EQ(r.status, 0);  // timed out before any header
  EXPECT_FALSE(r.error.empty());
  auto ok = post("/v1/chat/completions", chat_body("mode:slow-10"));
  EXPECT_EQ(ok.status, 200);
}

TEST_F(UpstreamTest, ResetClosesWithoutAnswer) {
  auto r = post("/v1/chat/completions", chat_body("mode:reset"));
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(UpstreamTest, GarbageIsNotJson) {
  auto r = post("/v1/chat/completions", chat_body("mode:garbage"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_TRUE(r.json().is_null());
}

TEST_F(UpstreamTest, NoUsageOmitsUsage) {
  auto r = post("/v1/chat/completions", chat_body("mode:no-usage"));
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(r.json().as_object().contains("usage"));
  auto s = http_stream(up_.port(), "/v1/chat/completions",
                       chat_body("mode:no-usage", true, R"(,"stream_options":{"include_usage":true})"));
  EXPECT_EQ(s.body.find("prompt_tokens"), std::string::npos);
  EXPECT_NE(s.body.find("[DONE]"), std::string::npos);
}

TEST_F(UpstreamTest, CutStreamEndsWithoutDone) {
  auto r = http_stream(up_.port(), "/v1/chat/completions", chat_body("mode:cut", true));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  auto events = parse_sse(r.body);
  EXPECT_EQ(events.size(), 2u);  // role chunk + one content chunk
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
}

TEST_F(UpstreamTest, CutNonStreamingBodyIsTruncated) {
  auto r = post("/v1/chat/completions", chat_body("mode:cut"));
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(UpstreamTest, StallSendsFirstChunkThenNothing) {
  auto r = http_stream(up_.port(), "/v1/chat/completions", chat_body("mode:stall", true), {},
                       Millis(300));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.first_body_byte.has_value());
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(parse_sse(r.body).size(), 1u);
  // The stalled connection does not block other clients.
  EXPECT_EQ(post("/v1/chat/completions", chat_body("gpt-x")).status, 200);
}

TEST_F(UpstreamTest, TokensModeAndMaxTokens) {
  auto r = post("/v1/chat/completions", chat_body("mode:tokens-5"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json().at("choices").at(0).at("message").at("content"), "tok1 tok2 tok3 tok4 tok5");
  EXPECT_EQ(r.json().at("usage").at("completion_tokens").as_int64(), 5);
  auto cut = post("/v1/chat/completions", chat_body("mode:tokens-5", false, R"(,"max_tokens":2)"));
  EXPECT_EQ(cut.json().at("choices").at(0).at("message").at("content"), "tok1 tok2");
  EXPECT_EQ(cut.json().at("choices").at(0).at("finish_reason"), "length");
  auto s = http_stream(up_.port(), "/v1/chat/completions", chat_body("mode:tokens-7", true));
  EXPECT_EQ(parse_sse(s.body).size(), 1u + 7u + 1u + 1u);  // role, words, finish, [DONE]
}

TEST_F(UpstreamTest, CombinedModesAndChunkDelay) {
  auto s = http_stream(up_.port(), "/v1/chat/completions",
                       chat_body("x", true), {{"x-test-mode", "tokens-3,delay-chunks-20"}});
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(parse_sse(s.body).size(), 1u + 3u + 1u + 1u);
}

TEST_F(UpstreamTest, KeepAliveServesManyRequestsOnOneProcess) {
  for (int i = 0; i < 50; ++i) ASSERT_EQ(post("/v1/chat/completions", chat_body("gpt-x")).status, 200);
  EXPECT_EQ(up_.request_count(), 50);
}

TEST_F(UpstreamTest, ModelsAndBadInput) {
  auto m = http_request(up_.port(), "GET", "/v1/models");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.json().at("object"), "list");
  EXPECT_EQ(post("/v1/chat/completions", "{not json").status, 400);
  EXPECT_EQ(http_request(up_.port(), "GET", "/nope").status, 404);
}

TEST_F(UpstreamTest, ExitsCleanlyOnSigterm) {
  auto st = up_.process().terminate(Millis(3000));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 0);
}

}  // namespace
}  // namespace triage::testing
