// Golden tests of the threshold route (decisions on a tiny fixture, through the route engine)
// and of `triage eval` on the same fixture (JSON contract, split, baselines).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "ml/fasttext_model.h"
#include "eval/eval.h"
#include "providers/provider.h"
#include "routes/route_table.h"
#include "routes/threshold_route.h"

namespace triage {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

// Hard prompts (say "integral") need the strong model; easy ones ("hello") do not.
const char* kPrompts[] = {"compute the integral of x", "hello how are you",
                          "integral of sin over pi", "hello there friend"};

class ThresholdFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-threshold-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    // The scorer: a tiny fastText model, then a router block (identity calibration).
    ml::TrainSpec spec;
    for (int i = 0; i < 30; ++i) {
      spec.train.push_back({"integral derivative proof theorem " + std::to_string(i), "strong"});
      spec.train.push_back({"hello thanks greeting friend " + std::to_string(i), "weak"});
    }
    spec.out_path = (dir_ / "router.bin").string();
    spec.threads = 1;
    spec.epoch = 30;
    ml::train_classifier(spec);
    std::ifstream in(spec.out_path + ".json");
    std::stringstream buf;
    buf << in.rdbuf();
    auto meta = boost::json::parse(buf.str()).as_object();
    meta["router"] = boost::json::object{
        {"positive_label", "strong"},
        {"features", "prompt"},
        {"calibration", boost::json::object{{"a", 1.0}, {"b", 0.0}}},
        {"validation_scores", boost::json::array{0.9, 0.8, 0.3, 0.2, 0.1}},
        {"split", boost::json::object{{"key", "id"}, {"seed", 1}, {"test_below", 5000},
                                      {"calib_below", 5000}}},
        {"data_file_sha256", "not-this-file"}};
    write(spec.out_path + ".json", boost::json::serialize(meta));
    // The dataset: grades say strong is needed exactly on the hard prompts.
    std::string csv = "id,prompt,weak_correct,strong_correct,weak_response,strong_response\n";
    for (int i = 0; i < 4; ++i) {
      const bool hard = i % 2 == 0;
      csv += "r" + std::to_string(i) + "," + kPrompts[i] + "," + (hard ? "0" : "1") + ",1,weak " +
             std::to_string(i) + ",strong " + std::to_string(i) + "\n";
    }
    write(dir_ / "pairs.csv", csv);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string config(const std::string& knob) {
    std::string y =
        "store: {type: none}\n"
        "models:\n"
        "  - name: weak\n    provider: replay\n    tier: medium\n"
        "    replay: {dataset: pairs.csv, response_column: weak_response, score_column: weak_correct}\n"
        "    prices: {input: 1.0, output: 1.0}\n"
        "  - name: strong\n    provider: replay\n    tier: large\n"
        "    replay: {dataset: pairs.csv, response_column: strong_response, score_column: strong_correct}\n"
        "    prices: {input: 10.0, output: 10.0}\n"
        "routes:\n"
        "  - name: default\n    type: threshold\n    scorer: router.bin\n    weak: weak\n"
        "    strong: strong\n    " + knob + "\n";
    const fs::path p = dir_ / "eval.yaml";
    write(p, y);
    return p.string();
  }

  fs::path dir_;
};

TEST_F(ThresholdFixture, GoldenDecisionsThroughTheRouteEngine) {
  routes::register_threshold_kind();
  config::Config cfg = config::load_config(config("threshold: 0.5"));
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  auto table = routes::RouteTable::build(cfg, reg, [](const char*) -> const char* { return nullptr; });
  auto* route = dynamic_cast<routes::ThresholdRoute*>(table->find("default"));
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->kind(), "threshold/1");
  EXPECT_DOUBLE_EQ(route->threshold(), 0.5);

  std::vector<std::string> answered;
  std::vector<std::string> details;
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (const char* p : kPrompts) {
          core::ChatRequest req;
          req.messages.push_back(core::Message{"user", p, {}});
          core::Trace trace;
          routes::ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(10)};
          auto r = co_await route->run(req, ctx, nullptr);
          answered.push_back(r ? r->model : "error");
          details.push_back(trace.spans.empty() ? "" : trace.spans.front().detail);
          EXPECT_EQ(trace.spans.front().kind, core::SpanKind::kRoute);
        }
      },
      boost::asio::detached);
  io.run();
  EXPECT_EQ(answered, (std::vector<std::string>{"strong", "weak", "strong", "weak"}));
  EXPECT_NE(details[0].find("-> strong"), std::string::npos) << details[0];
  EXPECT_EQ(details[0].rfind("p=", 0), 0u) << details[0];
  EXPECT_NE(details[1].find("-> weak"), std::string::npos) << details[1];

  // The knob: above every score -> all weak; below -> all strong. Decisions stay pure.
  core::ChatRequest hard;
  hard.messages.push_back(core::Message{"user", kPrompts[0], {}});
  const double s = route->score(hard);
  EXPECT_GT(s, 0.5);
  EXPECT_EQ(routes::ThresholdRoute::decide(s, 1.0), routes::ThresholdRoute::Choice::kWeak);
  EXPECT_EQ(routes::ThresholdRoute::decide(s, -1.0), routes::ThresholdRoute::Choice::kStrong);
  EXPECT_EQ(route->score(hard), s);
}

TEST_F(ThresholdFixture, StrongShareCalibratesOnValidationScores) {
  routes::register_threshold_kind();
  config::Config cfg = config::load_config(config("strong_share: 0.4"));
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  auto table = routes::RouteTable::build(cfg, reg, [](const char*) -> const char* { return nullptr; });
  auto* route = dynamic_cast<routes::ThresholdRoute*>(table->find("default"));
  ASSERT_NE(route, nullptr);
  // Validation scores 0.9 0.8 0.3 0.2 0.1: 40% strong -> the top 2 are above 0.3.
  EXPECT_DOUBLE_EQ(route->threshold(), 0.3);
  EXPECT_DOUBLE_EQ(ml::threshold_for_share({0.1, 0.2, 0.3}, 0.0), 0.3);
  EXPECT_DOUBLE_EQ(ml::threshold_for_share({0.1, 0.2, 0.3}, 1.0), -1.0);
}

TEST_F(ThresholdFixture, BadDeclarationsFailWithThePath) {
  routes::register_threshold_kind();
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  auto env = [](const char*) -> const char* { return nullptr; };
  auto build = [&](const std::string& knob) {
    config::Config cfg = config::load_config(config(knob));
    routes::RouteTable::build(cfg, reg, env);
  };
  try {
    build("threshold: 0.5\n    strong_share: 0.3");
    FAIL() << "both knobs accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("routes[0].strong_share"), std::string::npos) << e.what();
  }
  try {
    build("threshold: 1.5");
    FAIL() << "threshold out of range accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("routes[0].threshold"), std::string::npos) << e.what();
  }
  fs::remove(dir_ / "router.bin");
  try {
    build("threshold: 0.5");
    FAIL() << "missing scorer accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("routes[0].scorer"), std::string::npos) << e.what();
  }
}

TEST_F(ThresholdFixture, EvalJsonHasTheContractKeys) {
  eval::EvalOptions o;
  o.config_path = config("threshold: 0.5");
  o.dataset = (dir_ / "pairs.csv").string();
  o.sweep = true;
  o.progress = false;
  eval::EvalResult r = eval::evaluate(o);
  EXPECT_EQ(r.n_rows, 4);
  EXPECT_EQ(r.n_excluded_train, 0);  // another file than the scorer's: no split
  ASSERT_TRUE(r.is_pair);
  // A perfect scorer on this fixture: quality of the oracle at 50% strong.
  EXPECT_DOUBLE_EQ(r.operating.quality, 1.0);
  EXPECT_DOUBLE_EQ(r.operating.strong_share, 0.5);
  EXPECT_DOUBLE_EQ(r.operating.routing.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.all_weak->quality, 0.5);
  EXPECT_DOUBLE_EQ(r.all_strong->quality, 1.0);
  // Curve (0,0) (0.25,0.5) (0.5,1) ... (1,1): APGR = 0.0625 + 0.1875 + 0.5 = 0.75.
  ASSERT_TRUE(r.apgr.has_value());
  EXPECT_NEAR(*r.apgr, 0.75, 1e-9);
  EXPECT_NEAR(*r.cpt50, 0.25, 1e-9);
  EXPECT_NEAR(*r.cpt80, 0.4, 1e-9);

  boost::json::object j = eval::eval_json(r);
  for (const char* k : {"apgr", "cpt50", "cpt80", "points", "baselines", "operating_point"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_TRUE(j["apgr"].is_double());
  EXPECT_GE(j["points"].as_array().size(), 3u);
  for (const char* k : {"all_weak", "all_strong", "random", "oracle"}) {
    EXPECT_TRUE(j["baselines"].as_object().contains(k)) << k;
  }
  EXPECT_NE(eval::eval_svg(r).find("<polyline"), std::string::npos);

  // --split test re-applies the scorer's split rule: fewer rows, all counted.
  o.split = "test";
  eval::EvalResult t = eval::evaluate(o);
  EXPECT_EQ(t.n_rows + t.n_excluded_train, 4);
}

}  // namespace
}  // namespace triage
