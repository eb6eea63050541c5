#include "providers/local.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <optional>

namespace triage::providers {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class OneShotSink final : public core::StreamSink {
 public:
  explicit OneShotSink(bool accept) : accept_(accept) {}
  asio::awaitable<bool> write(const core::Delta& d) override {
    contents.emplace_back(d.content);
    roles.emplace_back(d.role);
    co_return accept_;
  }
  std::vector<std::string> contents, roles;

 private:
  bool accept_;
};

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

core::ChatRequest request(const std::string& text) {
  core::ChatRequest req;
  req.model = "faq";
  req.messages.push_back({"user", text, {}});
  return req;
}

SteadyTime far_deadline() { return SteadyClock::now() + std::chrono::seconds(30); }

// One small model shared by the suite: "billing" vs "shipping" questions.
class LocalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        ("triage_local_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    ml::TrainSpec spec;
    const std::vector<std::string> billing = {"invoice", "refund", "charge", "payment", "card",
                                              "bill"};
    const std::vector<std::string> shipping = {"delivery", "package", "tracking", "courier",
                                               "shipped", "parcel"};
    for (int i = 0; i < 40; ++i) {
      spec.train.push_back({"where is my " + billing[i % 6] + " and " + billing[(i + 1) % 6],
                            "billing"});
      spec.train.push_back({"where is my " + shipping[i % 6] + " and " + shipping[(i + 2) % 6],
                            "shipping"});
    }
    spec.out_path = (*dir_ / "faq.bin").string();
    spec.dim = 10;
    spec.epoch = 30;
    spec.bucket = 1000;
    spec.threads = 1;
    ml::train_classifier(spec);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  LocalTest() {
    cfg_.path = "faq.yaml";
    model_.name = "faq";
    model_.provider = "local";
    model_.line = 12;
    options_.model_path = (*dir_ / "faq.bin").string();
  }

  static fs::path* dir_;
  config::Config cfg_;
  config::Model model_;
  LocalOptions options_;
};
fs::path* LocalTest::dir_ = nullptr;

TEST_F(LocalTest, AnswersTemplateWithLabelAndConfidence) {
  options_.answers["billing"] = "Billing team ({label}, {confidence})";
  LocalClient c(cfg_, model_, options_);
  EXPECT_EQ(c.name(), "local/1");
  CallStats stats;
  auto r = run(c, request("I need a refund for this charge"), stats, far_deadline());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->label, "billing");
  EXPECT_GT(r->confidence, 0.5);
  EXPECT_LE(r->confidence, 1.0);
  EXPECT_EQ(r->content, expand_answer_template("Billing team ({label}, {confidence})",
                                               "billing", r->confidence));
  EXPECT_THAT(r->content, HasSubstr("Billing team (billing, 0."));
  EXPECT_TRUE(r->usage.estimated);
  EXPECT_GT(r->usage.prompt_tokens, 0);
  EXPECT_EQ(r->model, "faq");
  EXPECT_EQ(stats.ttfb_us, stats.total_us);
  EXPECT_GE(stats.total_us, 0);
}

TEST_F(LocalTest, DefaultAnswerThenLabel) {
  options_.answers["billing"] = "Billing";
  options_.default_answer = "Routing you to {label}.";
  LocalClient with_default(cfg_, model_, options_);
  CallStats stats;
  auto r = run(with_default, request("my parcel tracking says delivered"), stats, far_deadline());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->label, "shipping");
  EXPECT_EQ(r->content, "Routing you to shipping.");

  options_.default_answer.clear();
  LocalClient bare(cfg_, model_, options_);
  r = run(bare, request("my parcel tracking says delivered"), stats, far_deadline());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "shipping");
}

TEST_F(LocalTest, StreamsOneDelta) {
  LocalClient c(cfg_, model_, options_);
  CallStats stats;
  OneShotSink sink(true);
  auto r = run(c, request("where is the courier with my package"), stats, far_deadline(), &sink);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(sink.contents.size(), 1u);
  EXPECT_EQ(sink.contents[0], "shipping");
  EXPECT_EQ(sink.roles[0], "assistant");

  OneShotSink gone(false);
  r = run(c, request("where is the courier with my package"), stats, far_deadline(), &gone);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
}

TEST_F(LocalTest, NoTextIsInvalidRequestAndPastDeadlineTimesOut) {
  LocalClient c(cfg_, model_, options_);
  CallStats stats;
  auto r = run(c, request("  \n "), stats, far_deadline());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  core::ChatRequest no_user;
  no_user.messages.push_back({"system", "hello", {}});
  r = run(c, no_user, stats, far_deadline());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  r = run(c, request("refund please"), stats, SteadyClock::now() - std::chrono::seconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
}

TEST_F(LocalTest, MissingModelSaysRunMakeModels) {
  options_.model_path = (*dir_ / "absent.bin").string();
  try {
    LocalClient c(cfg_, model_, options_);
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("faq.yaml:12"));
    EXPECT_THAT(e.what(), HasSubstr("'faq'"));
    EXPECT_THAT(e.what(), HasSubstr("absent.bin"));
    EXPECT_THAT(e.what(), HasSubstr("make models"));
  }
}

TEST_F(LocalTest, TemplateForUnknownLabelIsConfigError) {
  options_.answers["biling"] = "typo";
  try {
    LocalClient c(cfg_, model_, options_);
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'biling'"));
    EXPECT_THAT(e.what(), HasSubstr("billing"));
  }
}

TEST(ExpandAnswerTemplateTest, ExpandsEveryOccurrence) {
  EXPECT_EQ(expand_answer_template("{label}/{label} at {confidence}", "x", 0.456),
            "x/x at 0.46");
  EXPECT_EQ(expand_answer_template("no placeholders", "x", 1.0), "no placeholders");
}

}  // namespace
}  // namespace triage::providers
