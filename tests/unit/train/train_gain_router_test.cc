// `triage train router` with the gain scorer: cross-fitted training, the metadata and reference
// rows it writes, the served ThresholdScorer reading them, and the refusals when the reference
// rows are missing or altered.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "insights/analyze.h"
#include "output/output_format.h"
#include "train/train_gain_router.h"
#include "train/train_router.h"
#include "ml/threshold_scorer.h"

namespace triage::train {
namespace {

namespace fs = std::filesystem;

class TrainGainRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-train-gain-" + std::to_string(::getpid()) + "-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
    opts_.out_path = (dir_ / "router.bin").string();
    opts_.folds = 3;
    opts_.label = "strong_needed";
    opts_.category_smoothing = {5.0};
  }
  void TearDown() override { fs::remove_all(dir_); }

  // 400 rows, one subject. Questions on space topics need the strong model (weak wrong,
  // strong right); questions on crafts are answered by both; riddles are the ones the strong
  // model gets wrong and the weak one right. Each topic word is in about 3% of the prompts, so
  // the neighbour inputs (TF-IDF keeps terms in under 20% of the prompts) carry the signal.
  static std::string prompt_of(int kind, int i) {
    static const char* words[3][10] = {
        {"orbit", "comet", "planet", "asteroid", "nebula", "quasar", "pulsar", "galaxy",
         "meteor", "eclipse"},
        {"pottery", "weaving", "knitting", "carving", "quilting", "glazing", "embroidery",
         "basketry", "origami", "macrame"},
        {"riddle", "enigma", "puzzle", "conundrum", "paradox", "rebus", "charade", "cipher",
         "anagram", "acrostic"}};
    std::string p = "tell me about the ";
    p += words[kind][i % 10];
    p += " and the ";
    p += words[kind][(i / 10) % 10];
    p += " in case ";
    p += std::to_string(i);
    return p;
  }
  static int kind_of(int i) { return i % 4 == 3 ? 2 : i % 2; }  // space, craft, space, riddle

  // With `mirrored`, 400 more rows of subject "poetry" with the same prompts, where crafts need
  // the strong model and space topics do not: only a search within the subject finds which.
  void write_dataset(bool mirrored = false) {
    std::string csv = "id,subject,prompt,weak_correct,strong_correct\n";
    for (int i = 0; i < (mirrored ? 800 : 400); ++i) {
      const bool poetry = i >= 400;
      const int kind = kind_of(i % 400);
      const int needs_strong = poetry ? 1 : 0;
      const char* grades = kind == needs_strong ? "0,1" : kind != 2 ? "1,1" : "1,0";
      csv += 'q';
      csv += std::to_string(i);
      csv += poetry ? ",poetry," : ",physics,";
      csv += prompt_of(kind, i % 400);
      csv += ',';
      csv += grades;
      csv += '\n';
    }
    opts_.dataset = (dir_ / "pairs.csv").string();
    std::ofstream(opts_.dataset) << csv;
  }

  fs::path dir_;
  TrainRouterOptions opts_;
};

TEST_F(TrainGainRouterTest, TrainsWritesAndServesTheGainScorer) {
  write_dataset();
  opts_.scorer = "gain";
  const TrainRouterReport rep = train_router(opts_);
  EXPECT_EQ(rep.scorer, "gain");
  ASSERT_TRUE(rep.gain_cross_validation.has_value());
  // Words separate the three kinds, so the nested estimate is far above random (0.5).
  EXPECT_GT(rep.gain_cross_validation->apgr, 0.8);
  EXPECT_GT(rep.test.apgr, 0.8);
  EXPECT_FALSE(rep.test.ece.has_value());  // a difference of probabilities is not calibrated
  // ... but its two probabilities are, and their calibration error is reported.
  ASSERT_TRUE(rep.test_ece_strong.has_value());
  ASSERT_TRUE(rep.test_ece_weak.has_value());
  EXPECT_LT(*rep.test_ece_strong, 0.2);
  EXPECT_LT(*rep.test_ece_weak, 0.2);

  const boost::json::object meta = output::read_json_object(rep.metadata_path);
  const auto& router = meta.at("router").as_object();
  EXPECT_EQ(router.at("scorer").as_string(), "gain");
  const auto& gain = router.at("gain").as_object();
  EXPECT_EQ(gain.at("inputs").as_array().size(), ml::kGainInputCount);
  EXPECT_EQ(gain.at("references").as_object().at("rows").as_int64(), rep.n_train);
  EXPECT_EQ(router.at("validation_scores").as_array().size(),
            static_cast<std::size_t>(rep.n_train));
  // The reference rows: exactly the train part, one JSON line each.
  std::ifstream refs(rep.references_path);
  int lines = 0;
  for (std::string line; std::getline(refs, line);) ++lines;
  EXPECT_EQ(lines, rep.n_train);

  auto scorer = ml::ThresholdScorer::load(rep.model_path);
  ASSERT_NE(scorer->gain(), nullptr);
  // New prompts (case numbers never seen) on each kind's topics.
  const double space = scorer->score(prompt_of(0, 1234), "physics");
  const double craft = scorer->score(prompt_of(1, 1234), "physics");
  const double riddle = scorer->score(prompt_of(2, 1234), "physics");
  EXPECT_GT(space, craft + 0.2) << space << " " << craft;
  EXPECT_GT(craft, riddle + 0.1) << craft << " " << riddle;
  EXPECT_GE(riddle, -1.0);
  EXPECT_LE(space, 1.0);
  const auto [ps, pw] = scorer->gain()->probabilities(prompt_of(0, 1234), "physics");
  EXPECT_DOUBLE_EQ(space, ps - pw);
}

// The same prompts need the strong model on space topics in physics and on crafts in poetry:
// neighbours searched within the request's subject tell them apart (over both subjects, half
// of every prompt's neighbours would say the opposite).
TEST_F(TrainGainRouterTest, NeighboursAreSearchedWithinTheRequestsCategory) {
  write_dataset(/*mirrored=*/true);
  opts_.scorer = "gain";
  const TrainRouterReport rep = train_router(opts_);
  ASSERT_TRUE(rep.gain_cross_validation.has_value());
  EXPECT_GT(rep.gain_cross_validation->apgr, 0.8);
  auto scorer = ml::ThresholdScorer::load(rep.model_path);
  const std::string space = prompt_of(0, 1234), craft = prompt_of(1, 1234);
  EXPECT_GT(scorer->score(space, "physics"), scorer->score(craft, "physics") + 0.2);
  EXPECT_GT(scorer->score(craft, "poetry"), scorer->score(space, "poetry") + 0.2);
}

TEST_F(TrainGainRouterTest, AutoKeepsTheScorerWithTheBetterCrossValidatedApgr) {
  write_dataset();
  opts_.scorer = "auto";
  const TrainRouterReport rep = train_router(opts_);
  ASSERT_TRUE(rep.gain_cross_validation.has_value());
  EXPECT_EQ(rep.scorer,
            rep.gain_cross_validation->apgr > rep.cross_validation.apgr ? "gain" : "stack");
  // A stack retrain afterwards leaves no stale reference rows behind.
  opts_.scorer = "stack";
  const TrainRouterReport stack = train_router(opts_);
  EXPECT_EQ(stack.scorer, "stack");
  EXPECT_FALSE(fs::exists(opts_.out_path + ".refs.jsonl"));
  EXPECT_EQ(ml::ThresholdScorer::load(stack.model_path)->gain(), nullptr);
}

TEST_F(TrainGainRouterTest, RefusesMissingOrAlteredReferenceRows) {
  write_dataset();
  opts_.scorer = "gain";
  const TrainRouterReport rep = train_router(opts_);
  auto load_error = [&]() -> std::string {
    try {
      ml::ThresholdScorer::load(rep.model_path);
    } catch (const ml::ModelError& e) {
      return e.what();
    }
    return "loaded";
  };
  ASSERT_EQ(load_error(), "loaded");
  {
    std::ofstream(rep.references_path, std::ios::app) << R"({"prompt":"x","category":"","strong":1,"weak":0})" << "\n";
  }
  EXPECT_NE(load_error().find("do not match router.gain.references.sha256"), std::string::npos)
      << load_error();
  fs::remove(rep.references_path);
  EXPECT_NE(load_error().find("are missing"), std::string::npos) << load_error();
  EXPECT_NE(load_error().find(rep.metadata_path), std::string::npos) << load_error();

  opts_.scorer = "bogus";
  EXPECT_THROW(train_router(opts_), ml::ModelError);
}

TEST_F(TrainGainRouterTest, RefusesAModelTrainedWithOtherPromptFeatures) {
  write_dataset();
  opts_.scorer = "gain";
  const TrainRouterReport rep = train_router(opts_);
  boost::json::object meta = output::read_json_object(rep.metadata_path);
  meta["router"].as_object()["gain"].as_object()["features_version"] = "mcq-v0";
  output::write_json_object(rep.metadata_path, meta);
  try {
    ml::ThresholdScorer::load(rep.model_path);
    FAIL() << "loaded a model with other prompt features";
  } catch (const ml::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("router.gain.features_version"), std::string::npos)
        << e.what();
  }
}

// Format 2 searched every reference row for a request's neighbours; its regressions were fitted
// on those, so a format 3 build refuses it rather than search within the category.
TEST_F(TrainGainRouterTest, RefusesAModelWhoseNeighboursSpannedEveryCategory) {
  write_dataset();
  opts_.scorer = "gain";
  const TrainRouterReport rep = train_router(opts_);
  boost::json::object meta = output::read_json_object(rep.metadata_path);
  auto& gain = meta["router"].as_object()["gain"].as_object();
  EXPECT_EQ(gain.at("format").as_string(), ml::kGainFormat);
  EXPECT_EQ(gain.at("neighbors").as_object().at("within").as_string(), "category");
  gain["format"] = "triage-gain-router/2";
  output::write_json_object(rep.metadata_path, meta);
  try {
    ml::ThresholdScorer::load(rep.model_path);
    FAIL() << "loaded a format 2 model";
  } catch (const ml::ModelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("router.gain.format"), std::string::npos) << what;
    EXPECT_NE(what.find("retrain"), std::string::npos) << what;
  }
}

TEST_F(TrainGainRouterTest, ReportsTheTestRowsWhosePromptIsAlsoInTheTrainPart) {
  write_dataset();
  opts_.scorer = "gain";
  EXPECT_FALSE(train_router(opts_).test_unseen.has_value());  // every prompt is unique
  // Append copies of train prompts under new ids; those whose id falls in the test part are
  // questions the router has seen, and are left out of the "unseen" metrics.
  std::ifstream in(opts_.dataset);
  std::stringstream csv;
  csv << in.rdbuf();
  int copies_in_test = 0;
  for (int i = 0; i < 400; ++i) {
    std::string id = "copy", original = "q";
    id += std::to_string(i);
    original += std::to_string(i);
    if (opts_.split.part(id) != datasets::SplitPart::kTest || opts_.split.part(original) == datasets::SplitPart::kTest) {
      continue;
    }
    const int kind = kind_of(i);
    csv << id << ",physics," << prompt_of(kind, i) << ","
        << (kind == 0 ? "0,1" : kind == 1 ? "1,1" : "1,0") << "\n";
    ++copies_in_test;
  }
  ASSERT_GT(copies_in_test, 10);
  std::ofstream(opts_.dataset) << csv.str();
  const TrainRouterReport rep = train_router(opts_);
  ASSERT_TRUE(rep.test_unseen.has_value());
  EXPECT_EQ(rep.test_unseen->n, rep.test.n - copies_in_test);
}

TEST_F(TrainGainRouterTest, AnalyzeClassifiesByTheGainScoreWithItsOwnDefaultThreshold) {
  write_dataset();
  opts_.scorer = "gain";
  const TrainRouterReport rep = train_router(opts_);
  // A log of 10 new space questions (the strong model helps) and 10 riddles (it hurts).
  const std::string log = (dir_ / "traffic.jsonl").string();
  {
    std::ofstream out(log);
    for (int i = 0; i < 20; ++i) {
      boost::json::object row{{"prompt", prompt_of(i < 10 ? 0 : 2, 5000 + i)},
                              {"model", "big"},
                              {"cost_usd", 0.01},
                              {"category", "physics"}};
      out << boost::json::serialize(row) << "\n";
    }
  }
  insights::AnalyzeOptions a;
  a.log_path = log;
  a.router_path = rep.model_path;
  auto count = [](const insights::AnalyzeReport& r, const std::string& key) -> int64_t {
    for (const auto& c : r.by_reasoning) {
      if (c.key == key) return c.n;
    }
    return 0;
  };
  // Unset: 0 for a gain scorer, so "complex" means the strong model is expected to do better.
  auto r = insights::analyze(a);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(count(*r, "complex"), 10);
  EXPECT_EQ(count(*r, "simple"), 10);
  EXPECT_EQ(r->reasoning_basis, "router " + rep.model_path + " (complex at score >= 0)");
  // An explicit threshold above every score makes everything simple.
  a.router_threshold = 1.0;
  r = insights::analyze(a);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(count(*r, "complex"), 0);
}

TEST(GainCrossFit, AFoldsScoresDoNotDependOnItsOwnGrades) {
  // Three folds of rows that share words across folds (topic k appears once per fold). The
  // nested estimate for fold f must be computed without fold f's grades: flipping every grade
  // in fold f leaves those rows' scores bit for bit the same, while flipping another fold's
  // grades changes them (so the check would notice a fold that is simply ignored).
  auto make_rows = [](int flipped_fold) {
    std::vector<GainTrainRow> rows;
    for (int i = 0; i < 90; ++i) {
      const int fold = i % 3;
      const bool space = (i / 3) % 2 == 0;
      double weak = space ? 0.0 : 1.0, strong = space ? 1.0 : 1.0;
      if (fold == flipped_fold) {
        weak = 1.0 - weak;
        strong = 1.0 - strong;
      }
      std::string prompt = space ? "orbit comet question " : "pottery glaze question ";
      prompt += std::to_string(i / 3);
      rows.push_back({prompt, i % 6 < 3 ? "astro" : "craft", weak, strong, fold});
    }
    return rows;
  };
  const GainTrainResult base = train_gain_router(make_rows(-1), 3);
  const GainTrainResult flip0 = train_gain_router(make_rows(0), 3);
  bool other_folds_changed = false;
  for (std::size_t i = 0; i < base.cv_scores.size(); ++i) {
    if (i % 3 == 0) {
      EXPECT_EQ(base.cv_scores[i], flip0.cv_scores[i]) << "row " << i;
    } else {
      other_folds_changed = other_folds_changed || base.cv_scores[i] != flip0.cv_scores[i];
    }
  }
  EXPECT_TRUE(other_folds_changed);
  EXPECT_THROW(train_gain_router(make_rows(-1), 2), ml::ModelError);  // nested needs 3 folds
}

}  // namespace
}  // namespace triage::train
