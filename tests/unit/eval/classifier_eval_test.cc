// `triage eval` of a classify route (the intent-bands family) over a tiny CLINC150-format
// fixture: band metrics, oos handling, invalid rows, the JSON contract, and which evaluator
// eval::evaluate picks for intent data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "ml/fasttext_model.h"
#include "eval/eval.h"

namespace triage::eval {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ClassifierEvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-clf-eval-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    ml::TrainSpec spec;
    const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
        {"balance", {"balance", "account", "money", "checking", "savings", "funds"}},
        {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy", "snow"}},
        {"oos", {"banana", "guitar", "volcano", "poem", "chess", "dragon"}}};
    for (int i = 0; i < 60; ++i) {
      for (const auto& [label, w] : topics) {
        spec.train.push_back({w[i % w.size()] + " " + w[(i / 6) % w.size()], label});
      }
    }
    spec.out_path = (dir_ / "intent.bin").string();
    spec.threads = 1;
    spec.epoch = 30;
    spec.bucket = 10000;
    ml::train_classifier(spec);
    // 6 rows the model gets right (2 per label), 2 it gets wrong (gold differs from the words),
    // plus 2 invalid lines that must be counted and skipped.
    std::ofstream data(dir_ / "val.jsonl");
    data << R"({"text": "my account balance", "intent": "balance"})"
            "\n"
         << R"({"text": "savings and checking money", "intent": "balance"})"
            "\n"
         << R"({"text": "rain forecast", "intent": "weather"})"
            "\n"
         << R"({"text": "sunny or cloudy", "intent": "weather"})"
            "\n"
         << R"({"text": "a poem about a dragon", "intent": "oos"})"
            "\n"
         << R"({"text": "chess and guitar", "intent": "oos"})"
            "\n"
         << R"({"text": "umbrella snow", "intent": "oos"})"
            "\n"  // predicted weather
         << R"({"text": "banana volcano", "intent": "balance"})"
            "\n"  // predicted oos
         << R"({"text": "no intent here"})"
            "\n"
         << "not json\n\n";
    data.close();
    std::ofstream(dir_ / "eval.yaml")
        << "store: {type: none}\n"
           "models:\n"
           "  - name: intent-small\n    provider: local\n    tier: small\n"
           "    local: {model_path: intent.bin}\n"
           "  - {name: mid, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: medium, "
           "prices: {input: 1, output: 1}}\n"
           "  - {name: big, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: large, "
           "prices: {input: 10, output: 10}}\n"
           "routes:\n"
           "  - name: default\n    type: classify\n    classifier: intent-small\n"
           "    targets: {oos: big}\n    default: intent-small\n"
           "  - name: plain\n    type: model\n    model: mid\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void set_constant_confidence(double p) {
    const std::string meta = ml::metadata_path_for((dir_ / "intent.bin").string());
    std::ifstream in(meta);
    std::stringstream buf;
    buf << in.rdbuf();
    auto v = boost::json::parse(buf.str()).as_object();
    v["calibration"] =
        boost::json::object{{"method", "platt"}, {"a", 0.0}, {"b", std::log(p / (1 - p))}};
    std::ofstream(meta, std::ios::trunc) << boost::json::serialize(v);
  }

  EvalOptions options(const std::string& route = "default") {
    EvalOptions o;
    o.config_path = (dir_ / "eval.yaml").string();
    o.dataset = (dir_ / "val.jsonl").string();
    o.route = route;
    o.progress = false;
    return o;
  }

  ClassifierEvalResult evaluate_intents(const std::string& route = "default") {
    const EvalReport report = evaluate(options(route));
    EXPECT_TRUE(std::holds_alternative<ClassifierEvalResult>(report));
    return std::get<ClassifierEvalResult>(report);
  }

  fs::path dir_;
};

TEST_F(ClassifierEvalTest, UseBandMetricsAndJsonContract) {
  set_constant_confidence(0.97);
  const ClassifierEvalResult r = evaluate_intents();
  EXPECT_EQ(r.route_kind, "classify/1");
  EXPECT_EQ(r.n_rows, 8);
  EXPECT_EQ(r.n_invalid_rows, 2);
  EXPECT_EQ(r.n_oos, 3);
  EXPECT_EQ(r.n_in_scope, 5);
  EXPECT_DOUBLE_EQ(r.accuracy, 6.0 / 8);
  EXPECT_EQ(r.all.use.n, 8);
  EXPECT_EQ(r.all.use.right, 6);
  EXPECT_EQ(r.oos_predicted_oos, 2);
  EXPECT_EQ(r.band_mismatches, 0);
  EXPECT_EQ(r.errors, 0);
  // Predicted oos (3 rows: 2 gold oos + "banana volcano") go to the large model.
  EXPECT_DOUBLE_EQ(r.share.at("big"), 3.0 / 8);
  EXPECT_DOUBLE_EQ(r.share.at("intent-small"), 5.0 / 8);

  const auto j = classifier_eval_json(r);
  EXPECT_DOUBLE_EQ(j.at("use_band_coverage").as_double(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("use_band_accuracy").as_double(), 0.75);
  EXPECT_DOUBLE_EQ(j.at("flag_band_share").as_double(), 0.0);
  EXPECT_TRUE(j.at("flag_band_accuracy").is_null());
  EXPECT_DOUBLE_EQ(j.at("oos").at("use_band_accuracy").as_double(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(j.at("oos").at("recall").as_double(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(j.at("in_scope").at("use_band_accuracy").as_double(), 4.0 / 5);
  EXPECT_EQ(j.at("reliability").as_array().size(), 10u);
  // Constant confidence 0.97, 75% right: ECE = 0.22.
  EXPECT_NEAR(j.at("ece").as_double(), 0.22, 1e-9);
  EXPECT_THAT(classifier_eval_text(r), HasSubstr("use_band_coverage 1.0000"));
  EXPECT_THAT(classifier_eval_svg(r), HasSubstr("<svg"));
  // Out of scope: all 3 oos rows sit in the use band; "umbrella snow" (gold oos, predicted
  // weather) is answered there with an in-scope label. In scope only: 5 rows, 4 right.
  EXPECT_EQ(r.oos_answered_in_use, 1);
  EXPECT_DOUBLE_EQ(j.at("oos_in_use_band_share").as_double(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("oos_in_flag_band_share").as_double(), 0.0);
  EXPECT_DOUBLE_EQ(j.at("oos_answered_in_use_band_share").as_double(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(j.at("in_scope_use_band_coverage").as_double(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("in_scope_use_band_accuracy").as_double(), 4.0 / 5);
  EXPECT_THAT(classifier_eval_text(r),
              HasSubstr("out of scope: 100.0% in the use band (33.3% answered there with an "
                        "in-scope label), 0.0% in the flag band"));
  // The curve's counts at t = 0.95 (every row has 0.97).
  for (const auto& p : r.curve) {
    if (p.use != 0.95) continue;
    EXPECT_EQ(p.n, 8);
    EXPECT_EQ(p.right, 6);
    EXPECT_EQ(p.oos_n, 3);
    EXPECT_EQ(p.oos_answered, 1);
  }
}

TEST_F(ClassifierEvalTest, FlagAndEscalateBands) {
  set_constant_confidence(0.85);
  ClassifierEvalResult r = evaluate_intents();
  EXPECT_EQ(r.all.flag.n, 8);
  EXPECT_EQ(r.all.use.n, 0);
  EXPECT_TRUE(classifier_eval_json(r).at("use_band_accuracy").is_null());
  EXPECT_DOUBLE_EQ(classifier_eval_json(r).at("use_band_coverage").as_double(), 0.0);
  EXPECT_DOUBLE_EQ(classifier_eval_json(r).at("oos_in_flag_band_share").as_double(), 1.0);
  EXPECT_DOUBLE_EQ(classifier_eval_json(r).at("oos_answered_in_use_band_share").as_double(), 0.0);

  set_constant_confidence(0.5);
  r = evaluate_intents();
  EXPECT_EQ(r.all.escalate.n, 8);
  EXPECT_EQ(r.n_escalated, 5);       // small -> medium
  EXPECT_EQ(r.n_low_confidence, 3);  // predicted oos: already on the large model
  EXPECT_DOUBLE_EQ(r.share.at("mid"), 5.0 / 8);
  EXPECT_EQ(r.band_mismatches, 0);
  // The curve is computed from the same confidences.
  for (const auto& p : r.curve) EXPECT_DOUBLE_EQ(p.coverage, p.use <= 0.5 ? 1.0 : 0.0);
}

TEST_F(ClassifierEvalTest, OtherFamiliesAreRefusedOnIntentData) {
  set_constant_confidence(0.9);
  try {
    evaluate(options("plain"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(),
                 "route 'plain' is a model/1 route; JSON-lines (CLINC150) datasets are evaluated "
                 "with a classify route");
  }
  // run_eval reports errors as exit code 1 (an unknown route too).
  EXPECT_EQ(run_eval(options("plain")), 1);
  EXPECT_EQ(run_eval(options("nope")), 1);
}

TEST_F(ClassifierEvalTest, AClassifyRouteOnCsvDataIsEvaluatedAsAnyRoute) {
  // The same route over graded CSV data: the pair evaluator, graded by the answering model.
  std::ofstream(dir_ / "graded.csv") << "prompt,mid_correct\nmy account balance,1\n";
  EvalOptions o = options();
  o.dataset = (dir_ / "graded.csv").string();
  set_constant_confidence(0.97);
  const EvalReport report = evaluate(o);
  ASSERT_TRUE(std::holds_alternative<EvalResult>(report));
  const EvalResult& r = std::get<EvalResult>(report);
  EXPECT_EQ(r.route_kind, "classify/1");
  EXPECT_EQ(r.n_rows, 1);
  EXPECT_FALSE(r.is_pair);
  EXPECT_DOUBLE_EQ(r.operating.share.at("intent-small"), 1.0);
}

}  // namespace
}  // namespace triage::eval
