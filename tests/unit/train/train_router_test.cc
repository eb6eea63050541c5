// `triage train router` on small pair datasets: cross-fitting over the train part only, the
// stacked calibration and category rates in the metadata, the served scorer reading them, and
// the options' errors.
#include "train/train_router.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "output/output_format.h"
#include "routes/threshold_route.h"

namespace triage::train {
namespace {

namespace fs = std::filesystem;

class TrainRouterFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-train-router-" + std::to_string(::getpid()) + "-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
    opts_.out_path = (dir_ / "router.bin").string();
    opts_.folds = 3;
    opts_.label = "strong_needed";
    opts_.scorer = "stack";  // the gain scorer has its own tests below
  }
  void TearDown() override { fs::remove_all(dir_); }

  // 300 rows. "algebra" needs the strong model on 4 rows of 5; "history" never does (both
  // right). With `with_subject` the category is a column, else only the words tell.
  std::string write_dataset(bool with_subject) {
    std::string csv = with_subject ? "id,subject,prompt,weak_correct,strong_correct\n"
                                   : "id,prompt,weak_correct,strong_correct\n";
    for (int i = 0; i < 300; ++i) {
      const bool algebra = i % 2 == 0;
      const bool needed = algebra && i % 10 != 0;
      const std::string n = std::to_string(i);
      csv += "q" + n + "," + (with_subject ? (algebra ? "algebra," : "history,") : "") +
             (algebra ? "solve the equation x plus " + n : "which king reigned in year " + n) +
             "," + (needed ? "0" : "1") + ",1\n";
    }
    const std::string path = (dir_ / "pairs.csv").string();
    std::ofstream(path) << csv;
    opts_.dataset = path;
    return path;
  }

  fs::path dir_;
  TrainRouterOptions opts_;
};

TEST_F(TrainRouterFixture, CrossFitsTheTrainPartAndStoresTheStacker) {
  write_dataset(/*with_subject=*/true);
  opts_.category_smoothing = {4.0};
  const TrainRouterReport rep = train_router(opts_);

  EXPECT_EQ(rep.n_rows, 300);
  EXPECT_EQ(rep.n_train + rep.n_test, 300);
  EXPECT_GT(rep.n_test, 30);  // about 20%
  EXPECT_EQ(rep.folds, 3);
  EXPECT_EQ(rep.candidates.size(), 2u);  // one label x two hyperparameter sets x one smoothing
  EXPECT_EQ(rep.chosen.features, "category+prompt");
  EXPECT_DOUBLE_EQ(rep.chosen.smoothing, 4.0);
  // Algebra first is the best ranking there is: PGR climbs to 1 over the first half of the rows
  // (APGR 0.75); random routing is 0.5.
  EXPECT_GT(rep.cross_validation.apgr, 0.7);
  EXPECT_GT(rep.test.apgr, 0.7);

  const boost::json::object meta = output::read_json_object(rep.metadata_path);
  // The served fastText model was fitted on the whole train part and nothing else.
  EXPECT_EQ(meta.at("n_train").as_int64(), rep.n_train);
  const auto& router = meta.at("router").as_object();
  EXPECT_EQ(router.at("cross_fit").as_object().at("folds").as_int64(), 3);
  EXPECT_EQ(router.at("n_fit").as_int64(), rep.n_train);
  EXPECT_EQ(router.at("n_calibration").as_int64(), 0);
  const auto& split = router.at("split").as_object();
  EXPECT_EQ(split.at("calib_below"), split.at("test_below"));
  EXPECT_EQ(router.at("validation_scores").as_array().size(),
            static_cast<std::size_t>(rep.n_train));

  // Stored rates: the train part's smoothed share of "strong needed" per subject.
  std::map<std::string, std::pair<double, double>> by;  // subject -> (needed, rows)
  double needed = 0;
  for (int i = 0; i < 300; ++i) {
    if (opts_.split.part("q" + std::to_string(i)) == datasets::SplitPart::kTest) continue;
    const bool algebra = i % 2 == 0;
    const double y = algebra && i % 10 != 0 ? 1.0 : 0.0;
    auto& c = by[algebra ? "algebra" : "history"];
    c.first += y;
    c.second += 1;
    needed += y;
  }
  const double prior = needed / static_cast<double>(rep.n_train);
  const auto& rates = router.at("category_rates").as_object();
  EXPECT_NEAR(router.at("category_prior").as_double(), prior, 1e-12);
  EXPECT_NEAR(rates.at("algebra").as_double(),
              (by["algebra"].first + 4.0 * prior) / (by["algebra"].second + 4.0), 1e-12);
  EXPECT_NEAR(rates.at("history").as_double(),
              (by["history"].first + 4.0 * prior) / (by["history"].second + 4.0), 1e-12);

  // What serving computes: the stacked P(strong needed), higher for algebra.
  auto scorer = ml::ThresholdScorer::load(rep.model_path);
  EXPECT_TRUE(scorer->uses_category());
  EXPECT_DOUBLE_EQ(scorer->category_weight(), rep.category_weight);
  EXPECT_GT(scorer->score("solve the equation x plus 1000", "algebra"),
            scorer->score("which king reigned in year 1000", "history") + 0.3);
  // No leftover fold models next to the output.
  EXPECT_FALSE(fs::exists(opts_.out_path + ".fold.bin"));
}

TEST_F(TrainRouterFixture, ChoosesTheSmoothingAmongTheCandidates) {
  write_dataset(/*with_subject=*/true);
  opts_.category_smoothing = {1.0, 30.0};
  const TrainRouterReport rep = train_router(opts_);
  EXPECT_EQ(rep.candidates.size(), 4u);
  double best = -1;
  for (const auto& c : rep.candidates) best = std::max(best, c.cv_apgr);
  EXPECT_DOUBLE_EQ(rep.chosen.cv_apgr, best);
  EXPECT_TRUE(rep.chosen.smoothing == 1.0 || rep.chosen.smoothing == 30.0);
}

TEST_F(TrainRouterFixture, WithoutACategoryColumnItIsPlattScalingOfThePrompt) {
  write_dataset(/*with_subject=*/false);
  const TrainRouterReport rep = train_router(opts_);
  EXPECT_EQ(rep.chosen.features, "prompt");
  EXPECT_DOUBLE_EQ(rep.category_weight, 0.0);
  EXPECT_DOUBLE_EQ(rep.chosen.smoothing, 0.0);
  EXPECT_EQ(rep.candidates.size(), 2u);  // smoothing is not searched without categories
  const boost::json::object meta = output::read_json_object(rep.metadata_path);
  EXPECT_FALSE(meta.at("router").as_object().contains("category_rates"));
  auto scorer = ml::ThresholdScorer::load(rep.model_path);
  EXPECT_GT(rep.platt_a, 0.0);  // the words carry the signal here
  EXPECT_GT(scorer->score("solve the equation x plus 1000", ""),
            scorer->score("which king reigned in year 1000", ""));
}

TEST_F(TrainRouterFixture, RefusesBadOptions) {
  write_dataset(/*with_subject=*/true);
  opts_.folds = 1;
  EXPECT_THROW(train_router(opts_), ml::ModelError);
  opts_.folds = 3;
  opts_.category_smoothing = {};
  EXPECT_THROW(train_router(opts_), ml::ModelError);
  opts_.category_smoothing = {-1.0};
  EXPECT_THROW(train_router(opts_), ml::ModelError);
  opts_.category_smoothing = {5.0};
  opts_.dataset = (dir_ / "missing.csv").string();
  EXPECT_ANY_THROW(train_router(opts_));
}

TEST_F(TrainRouterFixture, NamesAMissingGradeColumn) {
  const std::string path = (dir_ / "bad.csv").string();
  std::ofstream(path) << "id,prompt,weak_correct\nq1,hello,1\n";
  opts_.dataset = path;
  try {
    train_router(opts_);
    FAIL() << "expected an error";
  } catch (const ml::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("strong_correct"), std::string::npos);
  }
}

}  // namespace
}  // namespace triage::train

namespace triage::train {
namespace {

// Every router file carries its version and data hash (docs/loop.md): by default "r-" + the
// first 8 hex digits of the training rows' SHA-256, which the served scorer reads back; a
// given --version is kept as it is, and a bad one is refused.
TEST_F(TrainRouterFixture, WritesItsVersionAndDataHash) {
  const std::string path = write_dataset(/*with_subject=*/true);
  opts_.category_smoothing = {4.0};
  const TrainRouterReport rep = train_router(opts_);
  const std::string sha = datasets::file_sha256(path);
  ASSERT_EQ(sha.size(), 64u);
  EXPECT_EQ(rep.version, "r-" + sha.substr(0, 8));
  const boost::json::object meta = output::read_json_object(rep.metadata_path);
  const boost::json::object& router = meta.at("router").as_object();
  EXPECT_EQ(router.at("version").as_string(), rep.version);
  EXPECT_EQ(router.at("data_file_sha256").as_string(), sha);
  EXPECT_TRUE(router.at("metrics").as_object().at("test").as_object().contains("apgr"));
  EXPECT_EQ(ml::ThresholdScorer::load(opts_.out_path)->version(), rep.version);

  opts_.version = "loop-7";
  EXPECT_EQ(train_router(opts_).version, "loop-7");
  EXPECT_EQ(ml::ThresholdScorer::load(opts_.out_path)->version(), "loop-7");
  opts_.version = "bad version";
  EXPECT_THROW(train_router(opts_), ml::ModelError);
}

}  // namespace
}  // namespace triage::train
