// The similarity and logprob checks (pure: no model calls).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "checks/builtin.h"
#include "checks/logprob_check.h"
#include "checks/similarity_check.h"

namespace triage::checks {
namespace {

std::unique_ptr<routes::Check> build(const std::string& yaml, const std::string& file = "t.yaml") {
  register_builtin_checks();
  YAML::Node n = YAML::Load(yaml);
  return routes::CheckRegistry::build(config::Field(n, "checks[0]", file, 3));
}

std::string build_error(const std::string& yaml, const std::string& file = "t.yaml") {
  try {
    build(yaml, file);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

routes::Verdict eval(routes::Check& c, const std::string& answer, const std::string& category = {}) {
  core::ChatRequest req;
  req.messages.push_back({"user", "q", {}});
  req.meta.category = category;
  core::Completion a;
  a.content = answer;
  return dynamic_cast<SyncCheck&>(c).evaluate(req, a);
}

class SimilarityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: ctest runs the tests of this suite in parallel processes.
    dir_ = std::filesystem::path(TRIAGE_BINARY_DIR) / "test-tmp" / "similarity" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "refs.jsonl")
        << R"({"category": "billing", "text": "You can download your invoice from the billing page."})"
        << "\n"
        << R"({"category": "billing", "text": "Refunds are processed within five business days."})"
        << "\n\n"
        << R"({"category": "login", "text": "Reset your password with the forgot password link."})"
        << "\n"
        << R"({"text": "Thanks for contacting support."})" << "\n";
    config_ = (dir_ / "t.yaml").string();
  }
  std::filesystem::path dir_;
  std::string config_;
};

TEST_F(SimilarityTest, PassesForAnAnswerCloseToAReferenceOfTheCategory) {
  auto c = build("{type: similarity, references: refs.jsonl, min: 0.3}", config_);
  EXPECT_EQ(c->name(), "similarity/1");
  auto v = eval(*c, "Download the invoice from your billing page.", "billing");
  EXPECT_TRUE(v.pass) << v.reason;
  EXPECT_GT(v.score, 0.5);
  EXPECT_NE(v.reason.find("reference 1"), std::string::npos) << v.reason;
}

TEST_F(SimilarityTest, FailsForAnUnrelatedAnswer) {
  auto c = build("{type: similarity, references: refs.jsonl, min: 0.3}", config_);
  auto v = eval(*c, "The weather in Lisbon is sunny today.", "billing");
  EXPECT_FALSE(v.pass) << v.reason;
  EXPECT_LT(v.score, 0.3);
}

TEST_F(SimilarityTest, OnlyTheRequestCategoryCounts) {
  auto c = build("{type: similarity, references: refs.jsonl, min: 0.3}", config_);
  const std::string answer = "Use the forgot password link to reset your password.";
  EXPECT_FALSE(eval(*c, answer, "billing").pass);  // a login answer is not a billing answer
  EXPECT_TRUE(eval(*c, answer, "login").pass);
  EXPECT_TRUE(eval(*c, answer).pass);  // no category: every reference
  auto v = eval(*c, answer, "shipping");  // unknown category: every reference, noted
  EXPECT_TRUE(v.pass);
  EXPECT_NE(v.reason.find("no references for the category"), std::string::npos) << v.reason;
}

TEST_F(SimilarityTest, IdenticalTextHasCosineOneAndBigramsWork) {
  auto c = build("{type: similarity, references: refs.jsonl, ngram: 2, min: 0.99}", config_);
  auto v = eval(*c, "Refunds are processed within five business days.", "billing");
  EXPECT_TRUE(v.pass) << v.reason;
  EXPECT_NEAR(v.score, 1.0, 1e-9);
  // Same words, shuffled: unigrams alone would match fully, bigrams lower the cosine.
  auto shuffled = eval(*c, "days business five within processed are refunds", "billing");
  EXPECT_LT(shuffled.score, 0.9);
}

// The answer's first 16 KiB are compared (ml::model_text): what follows them is not read.
TEST_F(SimilarityTest, ReadsTheFirst16KiBOfTheAnswer) {
  auto c = build("{type: similarity, references: refs.jsonl, min: 0.3}", config_);
  auto repeated = [](const std::string& sentence, std::size_t bytes) {
    std::string s;
    while (s.size() < bytes) s += sentence + " ";
    s.resize(bytes);
    return s;
  };
  const std::string close = "Download the invoice from your billing page.";
  const std::string far = "The weather in Lisbon is sunny today.";
  EXPECT_TRUE(eval(*c, repeated(close, 16 * 1024) + repeated(far, 64 * 1024), "billing").pass);
  EXPECT_FALSE(eval(*c, repeated(far, 16 * 1024) + repeated(close, 64 * 1024), "billing").pass);
}

TEST_F(SimilarityTest, MinIsAKnob) {
  auto c = build("{type: similarity, references: refs.jsonl, min: 0.3}", config_);
  auto* t = dynamic_cast<routes::Tunable*>(c.get());
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->knobs().size(), 1u);
  routes::Knob* k = t->knobs()[0];
  EXPECT_DOUBLE_EQ(k->get(), 0.3);
  const std::string answer = "Download the invoice from your billing page.";
  k->set(k->range().second);  // the top of the range rejects everything
  EXPECT_FALSE(eval(*c, answer, "billing").pass);
  k->set(k->range().first);
  EXPECT_TRUE(eval(*c, "unrelated words", "billing").pass);
}

TEST_F(SimilarityTest, ConfigErrors) {
  EXPECT_NE(build_error("{type: similarity, references: nosuch.jsonl}", config_).find("nosuch"),
            std::string::npos);
  EXPECT_NE(build_error("{type: similarity, references: refs.jsonl, ngram: 3}", config_)
                .find("ngram"),
            std::string::npos);
  std::ofstream(dir_ / "bad.jsonl") << "{\"category\": \"x\"}\n";
  EXPECT_NE(build_error("{type: similarity, references: bad.jsonl}", config_).find(":1:"),
            std::string::npos);
}

routes::Verdict eval_logprobs(routes::Check& c, std::vector<double> probs) {
  core::ChatRequest req;
  core::Completion a;
  a.content = "x";
  for (double p : probs) a.token_logprobs.push_back(std::log(p));
  return dynamic_cast<SyncCheck&>(c).evaluate(req, a);
}

TEST(LogprobCheck, MeanProbability) {
  auto c = build("{type: logprob, threshold: 0.7}");
  EXPECT_EQ(c->name(), "logprob/1");
  auto v = eval_logprobs(*c, {0.9, 0.8, 0.7});
  EXPECT_TRUE(v.pass) << v.reason;
  EXPECT_NEAR(v.score, 0.8, 1e-9);
  auto low = eval_logprobs(*c, {0.9, 0.3, 0.6});
  EXPECT_FALSE(low.pass) << low.reason;
  EXPECT_NEAR(low.score, 0.6, 1e-9);
}

TEST(LogprobCheck, MinProbability) {
  auto c = build("{type: logprob, threshold: 0.5, aggregate: min}");
  EXPECT_FALSE(eval_logprobs(*c, {0.99, 0.99, 0.4}).pass);
  auto v = eval_logprobs(*c, {0.99, 0.6});
  EXPECT_TRUE(v.pass);
  EXPECT_NEAR(v.score, 0.6, 1e-9);
  EXPECT_NE(v.reason.find("min token probability 0.600"), std::string::npos) << v.reason;
}

TEST(LogprobCheck, MissingLogprobs) {
  auto pass = build("{type: logprob, threshold: 0.9}");
  auto v = eval_logprobs(*pass, {});
  EXPECT_TRUE(v.pass);
  EXPECT_EQ(v.reason, "no logprobs from provider");
  auto fail = build("{type: logprob, missing: fail}");
  v = eval_logprobs(*fail, {});
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.reason, "no logprobs from provider");
}

TEST(LogprobCheck, ThresholdIsAKnobAndConfigIsValidated) {
  auto c = build("{type: logprob, threshold: 0.5}");
  auto* t = dynamic_cast<routes::Tunable*>(c.get());
  ASSERT_NE(t, nullptr);
  t->knobs()[0]->set(0.95);
  EXPECT_FALSE(eval_logprobs(*c, {0.9}).pass);
  EXPECT_NE(build_error("{type: logprob, aggregate: median}").find("median"), std::string::npos);
  EXPECT_NE(build_error("{type: logprob, threshold: 2}").find("threshold"), std::string::npos);
  EXPECT_NE(build_error("{type: logprob, treshold: 0.5}").find("treshold"), std::string::npos);
}

}  // namespace
}  // namespace triage::checks
