#include "providers/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "common/csv.h"
#include "core/tokens.h"

namespace triage::providers {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kRouteLlm = std::string(TRIAGE_SOURCE_DIR) + "/tests/data/replay_tiny.csv";
const std::string kRouterBench =
    std::string(TRIAGE_SOURCE_DIR) + "/tests/data/routerbench_tiny.csv";

class RecordingSink final : public core::StreamSink {
 public:
  explicit RecordingSink(int accept = -1) : accept_(accept) {}
  asio::awaitable<bool> write(const core::Delta& d) override {
    if (accept_ >= 0 && static_cast<int>(contents.size()) >= accept_) co_return false;
    contents.emplace_back(d.content);
    roles.emplace_back(d.role);
    co_return true;
  }
  std::string joined() const {
    std::string s;
    for (const auto& c : contents) s += c;
    return s;
  }
  std::vector<std::string> contents;
  std::vector<std::string> roles;

 private:
  int accept_;
};

core::ChatRequest request(const std::string& user_text) {
  core::ChatRequest req;
  req.model = "strong";
  req.messages.push_back({"system", "Be brief.", {}});
  req.messages.push_back({"user", user_text, {}});
  return req;
}

// Runs one provider call on a fresh io_context (timers really wait).
Result<core::Completion> run(ModelClient& client, const core::ChatRequest& req,
                             CallStats& stats, SteadyTime deadline,
                             core::StreamSink* sink = nullptr) {
  asio::io_context io;
  std::optional<Result<core::Completion>> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        if (sink) {
          out.emplace(co_await client.stream(req, deadline, stats, *sink));
        } else {
          out.emplace(co_await client.complete(req, deadline, stats));
        }
      },
      asio::detached);
  io.run();
  return std::move(*out);
}

SteadyTime far_deadline() { return SteadyClock::now() + std::chrono::seconds(30); }

class ReplayTest : public ::testing::Test {
 protected:
  ReplayTest() {
    cfg_.path = "test.yaml";
    model_.name = "strong";
    model_.provider = "replay";
    model_.line = 7;
    options_.dataset = kRouteLlm;
    options_.response_column = "strong";  // routellm shorthand
  }
  std::unique_ptr<ReplayClient> make() {
    return std::make_unique<ReplayClient>(cfg_, model_, options_);
  }

  config::Config cfg_;
  config::Model model_;
  ReplayOptions options_;
};

TEST_F(ReplayTest, IndexesDatasetAndResolvesRouteLlmShorthand) {
  auto c = make();
  EXPECT_EQ(c->name(), "replay/1");
  EXPECT_EQ(c->response_column(), "strong_response");
  EXPECT_EQ(c->score_column(), "strong_correct");
  EXPECT_EQ(c->size(), 5u);
  EXPECT_EQ(c->missing(), 1u);  // q4's strong_response cell is empty
  EXPECT_EQ(c->score_for("What is 2+2?"), std::optional<double>(1.0));
  EXPECT_EQ(c->score_for("Spell cat."), std::optional<double>(0.0));
  EXPECT_FALSE(c->score_for("Name a colour.").has_value());  // empty cell: missing, not 0
  EXPECT_FALSE(c->score_for("never recorded").has_value());
  EXPECT_GT(c->median_response_tokens(), 0);
}

TEST_F(ReplayTest, AnswersRecordedResponseWithEstimatedUsage) {
  auto c = make();
  CallStats stats;
  auto req = request("What is 2+2?");
  auto r = run(*c, req, stats, far_deadline());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "The answer is 4.");
  EXPECT_EQ(r->model, "strong");
  EXPECT_FALSE(r->synthesized);
  EXPECT_TRUE(r->usage.estimated);
  EXPECT_EQ(r->usage.prompt_tokens,
            core::estimate_tokens("Be brief.") + core::estimate_tokens("What is 2+2?"));
  EXPECT_EQ(r->usage.completion_tokens, core::estimate_tokens("The answer is 4."));
  EXPECT_EQ(stats.ttfb_us, 0);
  EXPECT_EQ(stats.total_us, 0);
}

TEST_F(ReplayTest, MultiLineQuotedPromptAndResponse) {
  auto c = make();
  CallStats stats;
  auto r = run(*c, request("Add 3 and 5, then say \"done\"."), stats, far_deadline());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "3 + 5 = 8.\n\nTherefore the answer is 8, done.");
}

TEST_F(ReplayTest, WhitespaceNormalisedLookup) {
  auto c = make();
  CallStats stats;
  auto r = run(*c, request("Name   a colour.\n"), stats, far_deadline());  // recorded "  Name a colour.  "
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "Blue");
  EXPECT_EQ(replay_prompt_key("  a \n\t b  "), "a b");
}

TEST_F(ReplayTest, UnknownPromptIsInvalidRequestNamingDatasetOnlyInternally) {
  auto c = make();
  CallStats stats;
  auto r = run(*c, request("Something never asked"), stats, far_deadline());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(r.error().message, HasSubstr("model strong (replay) has no recorded response"));
  // The path is for the log and the store; the client is not told where the server's files are.
  EXPECT_THAT(r.error().message, ::testing::Not(HasSubstr(kRouteLlm)));
  EXPECT_THAT(r.error().internal, HasSubstr(kRouteLlm));
}

TEST_F(ReplayTest, EmptyResponseCellIsMissingNotEmptyAnswer) {
  auto c = make();
  CallStats stats;
  auto r = run(*c, request("Spell cat."), stats, far_deadline());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(r.error().message, HasSubstr("the recorded call failed or was not made"));
  EXPECT_THAT(r.error().internal, HasSubstr("is empty"));
  EXPECT_THAT(r.error().message, ::testing::Not(HasSubstr(kRouteLlm)));
}

TEST_F(ReplayTest, SynthesizesPlaceholderWhenAsked) {
  options_.synthesize_missing = true;
  auto c = make();
  for (const char* prompt : {"Spell cat.", "never recorded"}) {
    CallStats stats;
    auto r = run(*c, request(prompt), stats, far_deadline());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->synthesized);
    EXPECT_THAT(r->content, StartsWith("[synthesized placeholder]"));
    EXPECT_GE(r->usage.completion_tokens, c->median_response_tokens());
  }
}

TEST_F(ReplayTest, LatencyModelFillsCallStats) {
  options_.ttft_ms = 20;
  options_.tokens_per_s = 1000;
  auto c = make();
  const std::string response = "3 + 5 = 8.\n\nTherefore the answer is 8, done.";
  const int64_t gen_us = core::estimate_tokens(response) * 1000;  // 1 ms per token
  auto req = request("Add 3 and 5, then say \"done\".");

  CallStats stats;
  auto start = SteadyClock::now();
  auto r = run(*c, req, stats, far_deadline());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(stats.total_us, 20000 + gen_us);
  EXPECT_EQ(stats.ttfb_us, stats.total_us);  // non-streaming: the body arrives at the end
  EXPECT_GE(micros_between(start, SteadyClock::now()), stats.total_us);  // it really waited

  CallStats sstats;
  RecordingSink sink;
  r = run(*c, req, sstats, far_deadline(), &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sstats.ttfb_us, 20000);
  EXPECT_EQ(sstats.total_us, 20000 + gen_us);
}

TEST_F(ReplayTest, JitterStaysInBand) {
  options_.ttft_ms = 10;
  options_.jitter = 0.5;
  auto c = make();
  for (int i = 0; i < 5; ++i) {
    CallStats stats;
    auto r = run(*c, request("What is 2+2?"), stats, far_deadline());
    ASSERT_TRUE(r.ok());
    EXPECT_GE(stats.total_us, 5000);
    EXPECT_LE(stats.total_us, 15000);
  }
}

TEST_F(ReplayTest, DeadlineGivesUpstreamTimeout) {
  options_.ttft_ms = 5000;
  auto c = make();
  CallStats stats;
  auto start = SteadyClock::now();
  auto r = run(*c, request("What is 2+2?"), stats, start + std::chrono::milliseconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
  EXPECT_LT(micros_between(start, SteadyClock::now()), 4'000'000);  // did not wait 5 s
  EXPECT_GE(SteadyClock::now(), start + std::chrono::milliseconds(10));

  RecordingSink sink;
  r = run(*c, request("What is 2+2?"), stats, SteadyClock::now() + std::chrono::milliseconds(10),
          &sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
  EXPECT_TRUE(sink.contents.empty());
}

TEST_F(ReplayTest, StreamsWordGroupsThatReassembleExactly) {
  auto c = make();
  CallStats stats;
  RecordingSink sink;
  auto r = run(*c, request("Add 3 and 5, then say \"done\"."), stats, far_deadline(), &sink);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GT(sink.contents.size(), 2u);
  EXPECT_EQ(sink.joined(), "3 + 5 = 8.\n\nTherefore the answer is 8, done.");
  EXPECT_EQ(r->content, sink.joined());
  EXPECT_EQ(sink.roles[0], "assistant");
  EXPECT_EQ(sink.roles[1], "");
}

TEST_F(ReplayTest, StreamStopsWhenClientGoesAway) {
  auto c = make();
  CallStats stats;
  RecordingSink sink(/*accept=*/1);
  auto r = run(*c, request("Add 3 and 5, then say \"done\"."), stats, far_deadline(), &sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(sink.contents.size(), 1u);
}

TEST_F(ReplayTest, MissingColumnErrorListsColumns) {
  options_.response_column = "gpt5_response";
  try {
    make();
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("test.yaml:7"));
    EXPECT_THAT(e.what(), HasSubstr("'strong'"));
    EXPECT_THAT(e.what(), HasSubstr(kRouteLlm));
    EXPECT_THAT(e.what(), HasSubstr("gpt5_response"));
    EXPECT_THAT(e.what(), HasSubstr("available columns: id, prompt, weak_correct"));
  }
  options_.response_column = "strong_response";
  options_.score_column = "nope";
  EXPECT_THROW(make(), config::ConfigError);
}

TEST_F(ReplayTest, MissingDatasetIsConfigError) {
  options_.dataset = "/nonexistent/data.csv";
  try {
    make();
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/data.csv"));
    EXPECT_THAT(e.what(), HasSubstr("test.yaml:7"));
  }
}

TEST_F(ReplayTest, RouterBenchModelNameShorthandAndMissingCells) {
  options_.dataset = kRouterBench;
  options_.response_column = "m1";
  auto c = make();
  EXPECT_EQ(c->response_column(), "m1|response");
  EXPECT_EQ(c->score_column(), "m1|score");
  EXPECT_EQ(c->size(), 2u);
  EXPECT_EQ(c->missing(), 1u);
  EXPECT_EQ(c->score_for("Which is a mammal?\nA. shark\nB. whale"), std::optional<double>(1.0));
  EXPECT_FALSE(c->score_for("Is the sky green?").has_value());
  CallStats stats;
  auto r = run(*c, request("Which is a mammal?\nA. shark\nB. whale"), stats, far_deadline());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "B. whale");
  r = run(*c, request("Is the sky green?"), stats, far_deadline());
  ASSERT_FALSE(r.ok());

  options_.response_column = "m2|response";  // verbatim names work too; no score default
  c = make();
  EXPECT_EQ(c->score_column(), "");
  r = run(*c, request("Is the sky green?"), stats, far_deadline());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "No.");
}


// The shipped datasets load through the same path the server uses (data/ of this repo).
TEST_F(ReplayTest, LoadsShippedDatasets) {
  const std::string data = std::string(TRIAGE_SOURCE_DIR) + "/data/";
  options_.dataset = data + "routellm/gsm8k.csv";
  options_.response_column = "strong";
  auto gsm = make();
  EXPECT_EQ(gsm->size(), 947u);
  EXPECT_EQ(gsm->missing(), 0u);

  options_.dataset = data + "routerbench/arc_challenge.csv";
  options_.response_column = "gpt-4-1106-preview";
  auto arc = make();
  EXPECT_EQ(arc->size(), 1039u);
  EXPECT_EQ(arc->score_column(), "gpt-4-1106-preview|score");
  std::size_t ungraded = 0;
  // 8 arc rows have no recorded grade for GPT-4: they must read as missing, never as 0.
  auto table = read_csv_file(options_.dataset);
  auto prompt = *table.column("prompt");
  for (const auto& row : table.rows) {
    if (!arc->score_for(*row[prompt]).has_value()) ++ungraded;
  }
  EXPECT_EQ(ungraded, 8u);
}

}  // namespace
}  // namespace triage::providers
