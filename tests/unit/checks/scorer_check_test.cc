// The learned `scorer` check: feature text, loading, pass/fail golden on a tiny trained model,
// and its threshold knob as a cascade exposes it (endpoints: always accept, always escalate).
#include "checks/scorer_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../routes/route_harness.h"
#include "checks/builtin.h"
#include "routes/cascade.h"
#include "routes/knob.h"

namespace triage::checks {
namespace {

namespace fs = std::filesystem;
using routes::testing::Harness;
using routes::testing::user_request;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

// A tiny scorer: answers that state a final answer ("#### N") are acceptable, rambling ones
// without one are not. Trained on cheap+response features, identity calibration.
class ScorerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    register_builtin_checks();
    dir_ = fs::temp_directory_path() /
           ("triage-scorer-" + std::to_string(::getpid()) + "-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
    model_ = (dir_ / "scorer.bin").string();
    ml::ScorerFeatures f{true, false, true};
    ml::TrainSpec spec;
    for (int i = 0; i < 40; ++i) {
      const std::string n = std::to_string(i);
      spec.train.push_back({ml::scorer_feature_text("q", "So " + n + " + 1 = " + std::to_string(i + 1) +
                                                          ".\n#### " + std::to_string(i + 1), f),
                            "ok"});
      spec.train.push_back(
          {scorer_feature_text("q", "well maybe we could think about the apples and", f), "bad"});
    }
    spec.out_path = model_;
    spec.threads = 1;
    spec.epoch = 30;
    ml::train_classifier(spec);
    auto meta = boost::json::parse(read(model_ + ".json")).as_object();
    meta["scorer"] = boost::json::object{{"format", "triage-scorer/1"},
                                         {"positive_label", "ok"},
                                         {"features", f.name()},
                                         {"calibration", boost::json::object{{"a", 1.0}, {"b", 0.0}}}};
    write(model_ + ".json", boost::json::serialize(meta));
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string model_;
};

core::Completion answer(std::string text) {
  core::Completion c;
  c.content = std::move(text);
  return c;
}

TEST(ScorerFeaturesTest, NamesRoundTripAndBadNamesAreRefused) {
  for (const char* n : {"cheap", "response", "prompt+response", "cheap+prompt+response"}) {
    auto f = ml::ScorerFeatures::parse(n);
    ASSERT_TRUE(f) << n;
    EXPECT_EQ(f->name(), n);
  }
  EXPECT_FALSE(ml::ScorerFeatures::parse(""));
  EXPECT_FALSE(ml::ScorerFeatures::parse("cheap+"));
  EXPECT_FALSE(ml::ScorerFeatures::parse("cheap+cheap"));
  EXPECT_FALSE(ml::ScorerFeatures::parse("answer"));
}

TEST(ScorerFeaturesTest, CheapTokensSummariseTheAnswer) {
  EXPECT_EQ(ml::cheap_feature_tokens("16 - 3 = 13\n#### 13"),
            "zzans1 zzarok zzsteps1 zzlines1 zzlen0 zzendd");
  EXPECT_EQ(ml::cheap_feature_tokens("16 - 3 = 12\nso she has twelve"),
            "zzans0 zzarbad zzsteps1 zzlines1 zzlen0 zzendw");
  EXPECT_EQ(ml::cheap_feature_tokens(""), "zzans0 zzarnone zzsteps0 zzlines0 zzlen0 zzendn");
  ml::ScorerFeatures f{true, true, true};
  EXPECT_EQ(ml::scorer_feature_text("Q?", "#### 4.", f), "zzans1 zzarnone zzsteps0 zzlines0 zzlen0 zzendp Q? #### 4.");
}

TEST_F(ScorerFixture, PassesConfidentAnswersAndFailsTheOthers) {
  auto scorer = ml::AnswerScorer::load(model_);
  ScorerCheck check(scorer, 0.5);
  const auto good = check.evaluate(user_request("q"), answer("So 3 + 1 = 4.\n#### 4"));
  const auto bad = check.evaluate(user_request("q"), answer("well maybe we could think about it"));
  EXPECT_TRUE(good.pass) << good.reason;
  EXPECT_GT(good.score, 0.9);
  EXPECT_FALSE(bad.pass) << bad.reason;
  EXPECT_LT(bad.score, 0.1);
  EXPECT_EQ(bad.reason.rfind("P(acceptable)=", 0), 0u) << bad.reason;
  EXPECT_NE(bad.reason.find(" < 0.500"), std::string::npos) << bad.reason;

  // The knob: 0 accepts everything, 1 nothing.
  auto knobs = check.knobs();
  ASSERT_EQ(knobs.size(), 1u);
  EXPECT_EQ(knobs[0]->range(), (std::pair<double, double>{0.0, 1.0}));
  EXPECT_EQ(knobs[0]->model_path(), model_);
  EXPECT_FALSE(knobs[0]->request_score(user_request("q")));
  knobs[0]->set(0.0);
  EXPECT_TRUE(check.evaluate(user_request("q"), answer("well maybe")).pass);
  knobs[0]->set(1.0);
  EXPECT_FALSE(check.evaluate(user_request("q"), answer("So 3 + 1 = 4.\n#### 4")).pass);
  EXPECT_DOUBLE_EQ(check.threshold(), 1.0);
}

TEST_F(ScorerFixture, LoadRefusesMissingOrForeignMetadata) {
  auto meta = boost::json::parse(read(model_ + ".json")).as_object();
  meta.erase("scorer");
  write(model_ + ".json", boost::json::serialize(meta));
  try {
    ml::AnswerScorer::load(model_);
    FAIL() << "loaded a model without a scorer block";
  } catch (const ml::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("no \"scorer\" block"), std::string::npos) << e.what();
  }
  meta["scorer"] = boost::json::object{{"positive_label", "strong"}, {"features", "response"}};
  write(model_ + ".json", boost::json::serialize(meta));
  try {
    ml::AnswerScorer::load(model_);
    FAIL() << "loaded a scorer whose positive label is not a model label";
  } catch (const ml::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a label of"), std::string::npos) << e.what();
  }
}

TEST_F(ScorerFixture, CascadeExposesTheScorerKnobAndItsEndpoints) {
  const std::string yaml = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small,
     prices: {input: 1, output: 1}}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large,
     prices: {input: 10, output: 30}}
routes:
  - name: math
    type: cascade
    steps:
      - route: small
        checks: [non_empty, {type: scorer, model: ")" + model_ + R"(", threshold: 0.5}]
      - route: large
)";
  Harness h(yaml);
  auto knobs = routes::knobs_of(*h.table().find("math"));
  ASSERT_EQ(knobs.size(), 1u);
  EXPECT_EQ(knobs[0]->name(), "scorer/1 threshold");
  EXPECT_DOUBLE_EQ(knobs[0]->get(), 0.5);

  auto escalated = [&](const std::string& text) {
    h.fake("small").answer = text;
    core::Trace trace;
    auto r = h.run("math", user_request("q"), trace);
    EXPECT_TRUE(r.ok());
    return r->content == "answer from large";
  };
  const std::string good = "So 3 + 1 = 4.\n#### 4", bad = "well maybe we could think about";
  EXPECT_FALSE(escalated(good));
  EXPECT_TRUE(escalated(bad));
  knobs[0]->set(knobs[0]->range().first);  // always accept
  EXPECT_FALSE(escalated(good));
  EXPECT_FALSE(escalated(bad));
  knobs[0]->set(knobs[0]->range().second);  // always escalate
  EXPECT_TRUE(escalated(good));
  EXPECT_TRUE(escalated(bad));
}

TEST_F(ScorerFixture, ConfigErrorsNameTheField) {
  const std::string head = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
routes:
  - name: math
    type: cascade
    steps:
)";
  std::string e = routes::testing::build_error(
      head + "      - {route: small, checks: [{type: scorer, model: /nonexistent/s.bin}]}\n"
             "      - {route: large}\n");
  EXPECT_NE(e.find("routes[0].steps[0].checks[0].model: "), std::string::npos) << e;
  EXPECT_NE(e.find("/nonexistent/s.bin"), std::string::npos) << e;
  e = routes::testing::build_error(head + "      - {route: small, checks: [{type: scorer, model: " +
                                   model_ + ", threshold: 1.5}]}\n      - {route: large}\n");
  EXPECT_NE(e.find("checks[0].threshold"), std::string::npos) << e;
}

}  // namespace
}  // namespace triage::checks
