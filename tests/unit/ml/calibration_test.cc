#include "ml/calibration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ml/fasttext_model.h"
#include "ml/intent_trainer.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// An over-confident classifier: it reports p, but is right with probability q(p) = 0.2 + 0.5p.
void synthetic(unsigned seed, int n, std::vector<double>& p, std::vector<bool>& right) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  p.clear();
  right.clear();
  for (int i = 0; i < n; ++i) {
    const double s = 0.4 + 0.6 * u(rng);
    p.push_back(s);
    right.push_back(u(rng) < 0.2 + 0.5 * s);
  }
}

std::vector<double> apply_all(const Calibrator& c, const std::vector<double>& p) {
  std::vector<double> out;
  for (double x : p) out.push_back(c.apply(x));
  return out;
}

TEST(CalibrationTest, EceOfACalibratedAndAnOverconfidentPredictor) {
  EXPECT_DOUBLE_EQ(expected_calibration_error({}, {}), 0.0);
  // All at 0.75, three of four right: perfectly calibrated.
  EXPECT_NEAR(expected_calibration_error({0.75, 0.75, 0.75, 0.75}, {true, true, true, false}), 0.0,
              1e-12);
  // All at 0.9, half right: off by 0.4.
  EXPECT_NEAR(expected_calibration_error({0.9, 0.9}, {true, false}), 0.4, 1e-12);
}

TEST(CalibrationTest, ReliabilityTableBinsByConfidence) {
  auto t = reliability_table({0.05, 0.95, 1.0, 0.55}, {false, true, false, true}, 10);
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t[0].n, 1);
  EXPECT_EQ(t[5].n, 1);
  EXPECT_EQ(t[9].n, 2);  // 1.0 falls in the last bin
  EXPECT_DOUBLE_EQ(t[9].accuracy, 0.5);
  EXPECT_NEAR(t[9].mean_confidence, 0.975, 1e-12);
  EXPECT_EQ(t[3].n, 0);
}

TEST(CalibrationTest, IsotonicIsMonotoneAndImprovesEceOnHeldOutData) {
  std::vector<double> fit_p, test_p;
  std::vector<bool> fit_y, test_y;
  synthetic(1, 4000, fit_p, fit_y);
  synthetic(2, 4000, test_p, test_y);
  const Calibrator c = Calibrator::fit_isotonic(fit_p, fit_y);
  EXPECT_EQ(c.method(), Calibrator::Method::kIsotonic);
  double last = -1.0;
  for (int i = 0; i <= 1000; ++i) {
    const double v = c.apply(i / 1000.0);
    EXPECT_GE(v, last) << "at " << i / 1000.0;
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
    last = v;
  }
  for (std::size_t i = 1; i < c.xs().size(); ++i) {
    EXPECT_LT(c.xs()[i - 1], c.xs()[i]);
    EXPECT_LE(c.ys()[i - 1], c.ys()[i]);
  }
  const double before = expected_calibration_error(test_p, test_y);
  const double after = expected_calibration_error(apply_all(c, test_p), test_y);
  EXPECT_GT(before, 0.1);  // the synthetic predictor is badly over-confident
  EXPECT_LT(after, 0.04);
  EXPECT_LT(after, before / 3);
}

TEST(CalibrationTest, PlattIsMonotoneAndImprovesEce) {
  std::vector<double> fit_p, test_p;
  std::vector<bool> fit_y, test_y;
  synthetic(3, 4000, fit_p, fit_y);
  synthetic(4, 4000, test_p, test_y);
  const Calibrator c = Calibrator::fit_platt(fit_p, fit_y);
  EXPECT_EQ(c.method_name(), "platt");
  double last = -1.0;
  for (int i = 0; i <= 100; ++i) {
    const double v = c.apply(i / 100.0);
    EXPECT_GE(v, last);
    last = v;
  }
  EXPECT_LT(expected_calibration_error(apply_all(c, test_p), test_y),
            expected_calibration_error(test_p, test_y) / 2);
}

TEST(CalibrationTest, IsotonicPoolsViolatorsAndTies) {
  // Raw 0.2 right, 0.4 wrong, 0.6 wrong, 0.8 right: 0.4 and 0.6 pool with 0.2 -> 1/3.
  const Calibrator c = Calibrator::fit_isotonic({0.2, 0.4, 0.6, 0.8}, {true, false, false, true});
  ASSERT_EQ(c.xs().size(), 2u);
  EXPECT_NEAR(c.xs()[0], 0.4, 1e-12);
  EXPECT_NEAR(c.ys()[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(c.ys()[1], 1.0, 1e-12);
  EXPECT_NEAR(c.apply(0.0), 1.0 / 3, 1e-12);              // clamped below
  EXPECT_NEAR(c.apply(0.6), (1.0 / 3 + 1.0) / 2, 1e-12);  // interpolated
  EXPECT_NEAR(c.apply(1.0), 1.0, 1e-12);
  // Equal raw scores end in one block.
  const Calibrator t = Calibrator::fit_isotonic({0.5, 0.5, 0.5}, {true, false, true});
  ASSERT_EQ(t.xs().size(), 1u);
  EXPECT_NEAR(t.apply(0.5), 2.0 / 3, 1e-12);
  EXPECT_THROW(Calibrator::fit_isotonic({}, {}), ModelError);
  EXPECT_THROW(Calibrator::fit_isotonic({0.1}, {true, false}), ModelError);
}

TEST(CalibrationTest, JsonRoundTripAndValidation) {
  const Calibrator c = Calibrator::fit_isotonic({0.1, 0.5, 0.9}, {false, true, true});
  const Calibrator back = Calibrator::from_json(c.to_json(), "m.json");
  for (double p : {0.0, 0.2, 0.5, 0.7, 1.0}) EXPECT_DOUBLE_EQ(back.apply(p), c.apply(p));
  const Calibrator pl =
      Calibrator::from_json(boost::json::parse(R"({"method":"platt","a":0,"b":0})"), "m.json");
  EXPECT_DOUBLE_EQ(pl.apply(0.99), 0.5);
  EXPECT_DOUBLE_EQ(Calibrator().apply(0.42), 0.42);

  auto error_of = [](const char* text) {
    try {
      Calibrator::from_json(boost::json::parse(text), "m.json");
    } catch (const ModelError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of(R"({"method":"isotonic","x":[0.1,0.5],"y":[0.9,0.2]})"),
              HasSubstr("m.json: calibration.x must increase and calibration.y must not decrease"));
  EXPECT_THAT(error_of(R"({"method":"isotonic","x":[0.1],"y":[0.9,0.2]})"),
              HasSubstr("equal length"));
  EXPECT_THAT(error_of(R"({"method":"magic"})"), HasSubstr("unknown calibration.method \"magic\""));
  EXPECT_THAT(error_of(R"({"method":"platt","a":-1,"b":0})"), HasSubstr("reverse"));
}

TEST(CalibrationTest, SliceIsStratifiedAndDeterministic) {
  std::vector<std::string> texts, labels;
  for (int i = 0; i < 40; ++i) {
    texts.push_back("a text " + std::to_string(i));
    labels.push_back(i % 4 == 0 ? "rare" : "common");  // 10 rare, 30 common
  }
  auto held = calibration_slice(texts, labels, 0.2, 17);
  int rare = 0, common = 0;
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (held[i]) (labels[i] == "rare" ? rare : common)++;
  }
  EXPECT_EQ(rare, 2);
  EXPECT_EQ(common, 6);
  EXPECT_EQ(calibration_slice(texts, labels, 0.2, 17), held);
  EXPECT_NE(calibration_slice(texts, labels, 0.2, 18), held);
}

TEST(CalibrationTest, IntentTrainerStoresAndLoadsTheCalibration) {
  const fs::path dir = fs::temp_directory_path() / ("triage-calib-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
      {"balance", {"balance", "account", "money", "checking", "savings"}},
      {"weather", {"rain", "sunny", "forecast", "umbrella", "cloudy"}},
      {"oos", {"banana", "guitar", "volcano", "poem", "chess"}}};
  std::mt19937 rng(5);
  auto write = [&](const fs::path& p, int per_class) {
    std::ofstream out(p);
    for (int i = 0; i < per_class; ++i) {
      for (const auto& [label, words] : topics) {
        out << R"({"text": "what about )" << words[rng() % words.size()] << ' '
            << words[rng() % words.size()] << R"(", "intent": ")" << label << "\"}\n";
      }
    }
  };
  write(dir / "train.jsonl", 40);
  write(dir / "val.jsonl", 10);
  IntentTrainOptions o;
  o.train_jsonl = (dir / "train.jsonl").string();
  o.val_jsonl = (dir / "val.jsonl").string();
  o.out_path = (dir / "intent.bin").string();
  o.threads = 1;
  o.epoch = 10;
  o.bucket = 10000;
  const TrainReport r = train_intent_model(o);
  EXPECT_EQ(r.n_calibration, 18);  // round(0.15 * 40) = 6 per label
  EXPECT_EQ(r.n_train, 102);
  EXPECT_EQ(r.calibration_method, "isotonic+neighbor");  // the top-1 map and the neighbour maps

  std::ifstream in(r.metadata_path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto meta = boost::json::parse(buf.str()).as_object();
  ASSERT_TRUE(meta.contains("calibration"));
  EXPECT_EQ(meta.at("calibration").at("method").as_string(), "isotonic");
  EXPECT_EQ(meta.at("calibration").at("n").as_int64(), 18);
  EXPECT_TRUE(meta.at("validation_calibration").as_object().contains("ece_calibrated"));
  const Calibrator loaded = Calibrator::for_model(o.out_path);
  EXPECT_EQ(loaded.method(), Calibrator::Method::kIsotonic);
  EXPECT_EQ(Calibrator::for_model((dir / "absent.bin").string()).method(),
            Calibrator::Method::kIdentity);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace triage::ml
