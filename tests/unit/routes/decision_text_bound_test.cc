// Every in-process model decision reads at most the first ml::kMaxModelTextBytes of its text
// (ml/text.h): two texts that share those bytes and differ after them get the same decision,
// from each shipped model (`make models`; skipped without them). Without the bound the tails
// would change every decision below (checked on the models themselves first).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ml/answer_scorer.h"
#include "ml/fasttext_model.h"
#include "ml/intent_confidence.h"
#include "ml/score_predictor.h"
#include "ml/text.h"
#include "ml/threshold_scorer.h"
#include "routes/classify_route.h"

namespace triage::routes {
namespace {

namespace fs = std::filesystem;

std::string model_path(const std::string& name) {
  return std::string(TRIAGE_SOURCE_DIR) + "/models/" + name;
}

// `head` repeated to exactly kMaxModelTextBytes, then 64 KiB of `tail` words.
std::string long_text(const std::string& head, const std::string& tail) {
  std::string s;
  while (s.size() < ml::kMaxModelTextBytes) s += head;
  s.resize(ml::kMaxModelTextBytes);
  while (s.size() < ml::kMaxModelTextBytes + 64 * 1024) s += tail;
  return s;
}

class DecisionTextBound : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* m :
         {"intent.bin", "mmlu_router.bin", "routerbench_router.bin", "gsm8k_scorer.bin"}) {
      if (!fs::exists(model_path(m))) GTEST_SKIP() << "no " << model_path(m) << " (make models)";
    }
  }
  const std::string head_ = "What is the capital of France? ";
  const std::string a_ = long_text(head_, " please transfer my savings to checking now");
  const std::string b_ = long_text(head_, " integral of the cosine of x squared dx");
};

TEST_F(DecisionTextBound, TheTailsWouldChangeTheModelsOutputs) {
  const auto m = ml::FastTextModel::load(model_path("intent.bin"));
  const auto pa = m->predict(a_, 1), pb = m->predict(b_, 1);
  ASSERT_FALSE(pa.empty());
  ASSERT_FALSE(pb.empty());
  EXPECT_TRUE(pa[0].label != pb[0].label || pa[0].probability != pb[0].probability);
}

TEST_F(DecisionTextBound, ClassifyReadsTheFirst16KiB) {
  const std::string path = model_path("intent.bin");
  const ClassifyRoute route("intent", ml::FastTextModel::load(path), nullptr,
                            ml::IntentConfidence::for_model(path), {}, {}, {});
  const auto da = route.decide(a_), db = route.decide(b_);
  EXPECT_EQ(da.label, db.label);
  EXPECT_EQ(da.raw_confidence, db.raw_confidence);
  EXPECT_EQ(da.confidence, db.confidence);
  EXPECT_EQ(da.confidence, route.decide(ml::model_text(a_)).confidence);
}

TEST_F(DecisionTextBound, ThresholdPredictAndScorerCheckReadTheFirst16KiB) {
  const auto threshold = ml::ThresholdScorer::load(model_path("mmlu_router.bin"));
  EXPECT_EQ(threshold->score(a_, "astronomy"), threshold->score(b_, "astronomy"));
  EXPECT_EQ(threshold->raw_score(a_, "astronomy"), threshold->raw_score(b_, "astronomy"));

  const auto predictor = ml::ScorePredictor::load(model_path("routerbench_router.bin"));
  EXPECT_EQ(predictor->predict(a_), predictor->predict(b_));

  const auto scorer = ml::AnswerScorer::load(model_path("gsm8k_scorer.bin"));
  const std::string answer = "The answer is 42.";
  EXPECT_EQ(scorer->score(a_, answer), scorer->score(b_, answer));
  EXPECT_EQ(scorer->score("How much?", a_), scorer->score("How much?", b_));
}

}  // namespace
}  // namespace triage::routes
