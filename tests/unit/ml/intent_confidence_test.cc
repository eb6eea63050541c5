// The intent tier's confidence (ml/intent_confidence.h): the top-1 map alone for models without
// the neighbour block, else the map of the case "the nearest reference utterance has the
// predicted label" or not; load errors; and the trainer writing what serving reads.
#include "ml/intent_confidence.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ml/intent_trainer.h"
#include "support/intent_references.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

boost::json::object linear_map(double y0, double y1) {
  return {{"method", "isotonic"},
          {"x", boost::json::array{0.0, 1.0}},
          {"y", boost::json::array{y0, y1}}};
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

class IntentConfidenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-intent-confidence-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string model() const { return (dir_ / "m.bin").string(); }

  // Metadata with the top-1 map 0.2 + 0.4 p and, when `refs` is given, the neighbour maps
  // agree 0.5 + 0.5 p / disagree 0.1 p over those references.
  void write(const std::vector<LabeledExample>* refs,
             std::string_view format = kIntentNeighborFormat) {
    boost::json::object meta{{"labels", boost::json::array{"balance", "weather", "oos"}},
                             {"calibration", linear_map(0.2, 0.6)}};
    if (refs) {
      write_intent_references(model() + ".refs.jsonl", *refs);
      meta["neighbor_calibration"] =
          boost::json::object{{"format", format},
                              {"references", "m.bin.refs.jsonl"},
                              {"references_sha256", sha256_hex(slurp(model() + ".refs.jsonl"))},
                              {"agree", linear_map(0.5, 1.0)},
                              {"disagree", linear_map(0.0, 0.1)}};
    }
    std::ofstream(model() + ".json") << boost::json::serialize(meta);
  }

  static std::vector<LabeledExample> references() { return triage::testing::intent_references(); }

  fs::path dir_;
};

TEST_F(IntentConfidenceTest, WithoutTheNeighborBlockTheTop1MapAloneApplies) {
  EXPECT_DOUBLE_EQ(IntentConfidence::for_model(model()).apply("rain", "weather", 0.3), 0.3);
  write(nullptr);
  const IntentConfidence c = IntentConfidence::for_model(model());
  EXPECT_FALSE(c.uses_neighbors());
  EXPECT_EQ(c.method_name(), "isotonic");
  EXPECT_FALSE(c.nearest_agrees("rain forecast", "weather"));
  EXPECT_NEAR(c.apply("rain forecast", "weather", 0.5), 0.4, 1e-12);
  EXPECT_NEAR(c.apply("banana", "balance", 0.5), 0.4, 1e-12);
}

TEST_F(IntentConfidenceTest, TheNearestReferenceUtteranceDecidesTheMap) {
  const auto refs = references();
  write(&refs);
  const IntentConfidence c = IntentConfidence::for_model(model());
  EXPECT_TRUE(c.uses_neighbors());
  EXPECT_EQ(c.method_name(), "isotonic+neighbor");
  EXPECT_TRUE(c.nearest_agrees("what is my checking balance", "balance"));
  EXPECT_NEAR(c.apply("what is my checking balance", "balance", 0.8), 0.9, 1e-12);
  // Same text, another predicted label: the disagreement map.
  EXPECT_FALSE(c.nearest_agrees("what is my checking balance", "weather"));
  EXPECT_NEAR(c.apply("what is my checking balance", "weather", 0.8), 0.08, 1e-12);
  EXPECT_TRUE(c.nearest_agrees("is a forecast of rain", "weather"));
  // No reference shares a kept term: no neighbour, which counts as disagreement.
  EXPECT_FALSE(c.nearest_agrees("zebra", "balance"));
  EXPECT_NEAR(c.apply("zebra", "balance", 1.0), 0.1, 1e-12);
  // A copy shares the index and answers the same.
  const IntentConfidence copy = c;
  EXPECT_NEAR(copy.apply("what is my checking balance", "balance", 0.8), 0.9, 1e-12);
}

TEST_F(IntentConfidenceTest, AnotherFormatOrReferencesThatDoNotMatchAreRefused) {
  const auto refs = references();
  auto error = [&]() -> std::string {
    try {
      IntentConfidence::for_model(model());
    } catch (const ModelError& e) {
      return e.what();
    }
    return "no error";
  };
  write(&refs, "triage-intent-neighbor/0");
  EXPECT_THAT(error(), HasSubstr("this binary reads \"triage-intent-neighbor/1\""));
  write(&refs);
  EXPECT_EQ(error(), "no error");
  std::ofstream(model() + ".refs.jsonl", std::ios::app) << R"({"text":"a b","intent":"oos"})"
                                                        << "\n";
  EXPECT_THAT(error(), HasSubstr("do not match"));
  fs::remove(model() + ".refs.jsonl");
  EXPECT_THAT(error(), HasSubstr("cannot open reference utterances"));
}

// The trainer writes the rows fastText trained on as the references and fits one map per case
// on the calibration slice; training again with neighbor_calibration off removes both.
TEST_F(IntentConfidenceTest, TheTrainerWritesWhatServingReads) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
      {"balance", {"balance", "account", "money", "checking", "savings", "funds"}},
      {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy", "snow"}},
      {"oos", {"which", "following", "theorem", "molecule", "poem", "calculate"}}};
  const std::string train = (dir_ / "train.jsonl").string();
  {
    std::ofstream f(train);
    for (int i = 0; i < 80; ++i) {
      for (const auto& [label, w] : topics) {
        f << boost::json::serialize(boost::json::object{
                 {"text", w[i % w.size()] + " " + w[(i / 6) % w.size()]}, {"intent", label}})
          << "\n";
      }
    }
  }
  IntentTrainOptions o;
  o.train_jsonl = train;
  o.out_path = model();
  o.epoch = 30;
  o.bucket = 10000;
  const TrainReport r = train_intent_model(o);
  EXPECT_EQ(r.calibration_method, "isotonic+neighbor");
  const std::string refs = slurp(model() + ".refs.jsonl");
  EXPECT_EQ(std::count(refs.begin(), refs.end(), '\n'), r.n_train);
  const auto meta = boost::json::parse(slurp(model() + ".json")).as_object();
  const auto& block = meta.at("neighbor_calibration").as_object();
  EXPECT_EQ(block.at("format").as_string(), kIntentNeighborFormat);
  EXPECT_EQ(block.at("references_sha256").as_string(), sha256_hex(refs));
  EXPECT_EQ(block.at("n_agree").as_int64() + block.at("n_disagree").as_int64(), r.n_calibration);
  EXPECT_GT(block.at("n_agree").as_int64(), 0);
  const IntentConfidence c = IntentConfidence::for_model(model());
  ASSERT_TRUE(c.uses_neighbors());
  EXPECT_TRUE(c.nearest_agrees("savings account", "balance"));
  const Calibrator agree = Calibrator::from_json(block.at("agree"), "agree");
  EXPECT_DOUBLE_EQ(c.apply("savings account", "balance", 0.7), agree.apply(0.7));

  o.neighbor_calibration = false;
  const TrainReport r2 = train_intent_model(o);
  EXPECT_EQ(r2.calibration_method, "isotonic");
  EXPECT_FALSE(fs::exists(model() + ".refs.jsonl"));
  EXPECT_TRUE(boost::json::parse(slurp(model() + ".json")).at("neighbor_calibration").is_null());
  EXPECT_FALSE(IntentConfidence::for_model(model()).uses_neighbors());
}

}  // namespace
}  // namespace triage::ml
