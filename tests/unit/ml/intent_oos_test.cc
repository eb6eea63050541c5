// The intent tier's out-of-scope detector: an `oos` class trained from out-of-scope negatives
// (data/clinc150/intent_train.jsonl's recipe). Without negatives the model can only answer
// with an in-scope intent; with them, queries like the negatives are predicted `oos` with a
// calibrated confidence, and in-scope queries keep their intent.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ml/calibration.h"
#include "ml/fasttext_model.h"
#include "ml/intent_trainer.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;

class IntentOosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-intent-oos-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // 2 in-scope intents, and optionally out-of-scope negatives (quiz-like prompts).
  std::string write_train(bool with_negatives) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
        {"balance", {"balance", "account", "money", "checking", "savings", "funds"}},
        {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy", "snow"}},
        {"oos", {"which", "following", "theorem", "molecule", "poem", "calculate"}}};
    const fs::path p = dir_ / (with_negatives ? "with.jsonl" : "without.jsonl");
    std::ofstream f(p);
    for (int i = 0; i < 80; ++i) {
      for (const auto& [label, w] : topics) {
        if (label == "oos" && !with_negatives) continue;
        boost::json::object row{{"text", w[i % w.size()] + " " + w[(i / 6) % w.size()]},
                                {"intent", label}};
        f << boost::json::serialize(row) << "\n";
      }
    }
    return p.string();
  }

  std::string train(bool with_negatives) {
    IntentTrainOptions o;
    o.train_jsonl = write_train(with_negatives);
    o.out_path = (dir_ / (with_negatives ? "with.bin" : "without.bin")).string();
    o.epoch = 30;
    o.bucket = 10000;
    train_intent_model(o);
    return o.out_path;
  }

  static Calibrator calibrator_of(const std::string& model) {
    std::ifstream in(model + ".json");
    std::stringstream buf;
    buf << in.rdbuf();
    return Calibrator::from_json(boost::json::parse(buf.str()).at("calibration"), model);
  }

  fs::path dir_;
};

TEST_F(IntentOosTest, NegativesTeachAnOosClassThatTakesOutOfScopeQueries) {
  const std::string query = "calculate which molecule";
  auto without = FastTextModel::load(train(false));
  auto p0 = without->predict(query, 1);
  ASSERT_FALSE(p0.empty());
  EXPECT_NE(p0[0].label, "oos");  // nothing to say "out of scope" with

  const std::string with_path = train(true);
  auto with = FastTextModel::load(with_path);
  const Calibrator cal = calibrator_of(with_path);
  auto p1 = with->predict(query, 1);
  ASSERT_FALSE(p1.empty());
  EXPECT_EQ(p1[0].label, "oos");
  EXPECT_GE(cal.apply(p1[0].probability), 0.9);
  // In scope keeps its intent, confidently.
  auto p2 = with->predict("savings account balance", 1);
  ASSERT_FALSE(p2.empty());
  EXPECT_EQ(p2[0].label, "balance");
  EXPECT_GE(cal.apply(p2[0].probability), 0.9);
}

}  // namespace
}  // namespace triage::ml
