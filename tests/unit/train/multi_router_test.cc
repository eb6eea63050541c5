// The multi-model router: `triage train multi-router` (missing cells counted, never zeroed) and
// the `predict` route's cheapest-that-clears-the-bar decision (pure and through the route
// engine) over the predictor it trained. The multi-model `triage eval` of that route is in
// tests/unit/eval/predict_eval_test.cc.
//
// Fixture tests/data/routerbench_missing.csv: 200 rows, models cheap ($0.0001, right on the
// "name the fruit" prompts, wrong on the "prove the" ones), mid ($0.001, always right where
// graded) and pricey ($0.01, always right). Empty score cells: mid on 6 rows, cheap on 3.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "engine/builtins.h"
#include "train/train_multi_router.h"
#include "providers/provider.h"
#include "routes/knob.h"
#include "routes/multi_route.h"
#include "routes/route_table.h"

namespace triage {
namespace {

namespace fs = std::filesystem;
using routes::PredictRoute;

const std::string kData = std::string(TRIAGE_SOURCE_DIR) + "/tests/data/routerbench_missing.csv";

class MultiRouterFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-multi-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    opts_.datasets = {kData};
    opts_.out_path = (dir_ / "router.bin").string();
    opts_.min_own_rows = 10;
    report_ = train::train_multi_router(opts_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string config(double bar) {
    std::string y = "store: {type: none}\nmodels:\n";
    const char* names[] = {"cheap", "mid", "pricey"};
    const double prices[] = {0.1, 1.0, 10.0};
    for (int i = 0; i < 3; ++i) {
      y += std::string("  - name: ") + names[i] + "\n    provider: replay\n" +
           "    replay: {dataset: " + kData + ", response_column: " + names[i] + "}\n" +
           "    prices: {input: " + std::to_string(prices[i]) + ", output: " +
           std::to_string(prices[i]) + "}\n";
    }
    y += "routes:\n  - name: default\n    type: predict\n    predictor: router.bin\n"
         "    candidates: [cheap, mid, pricey]\n    bar: " + std::to_string(bar) + "\n";
    const fs::path p = dir_ / "eval.yaml";
    std::ofstream(p, std::ios::trunc) << y;
    return p.string();
  }

  fs::path dir_;
  train::TrainMultiRouterOptions opts_;
  train::TrainMultiRouterReport report_;
};

TEST(MultiFeatureText, LastParagraphOfTheprompt) {
  EXPECT_EQ(ml::multi_feature_text("shot one\nA\n\nshot two\n\nthe question\nA) x\n"),
            "the question\nA) x");
  EXPECT_EQ(ml::multi_feature_text("just one"), "just one");
  EXPECT_EQ(ml::multi_feature_text("\n\n"), "\n\n");  // nothing else: the whole prompt
}

TEST(PredictDecision, CheapestThatClearsTheBarGolden) {
  // {score, cost}: pricey and sure, mid and fairly sure, cheap and unsure.
  const std::vector<PredictRoute::Option> o = {{0.97, 1.0}, {0.85, 0.1}, {0.50, 0.01}};
  EXPECT_EQ(PredictRoute::decide(o, 0.80), 1u);  // mid is the cheapest at >= 0.80
  EXPECT_EQ(PredictRoute::decide(o, 0.85), 1u);  // the bar is inclusive
  EXPECT_EQ(PredictRoute::decide(o, 0.86), 0u);  // only the pricey one clears
  EXPECT_EQ(PredictRoute::decide(o, 0.50), 2u);
  EXPECT_EQ(PredictRoute::decide(o, 0.0), 2u);   // everything clears: the cheapest
  EXPECT_EQ(PredictRoute::decide(o, 0.99), 0u);  // none clears: the highest score
  // None clears and two share the highest score: the cheaper one.
  EXPECT_EQ(PredictRoute::decide({{0.6, 1.0}, {0.6, 0.5}, {0.3, 0.1}}, 0.9), 1u);
  // Equal costs above the bar: the higher score.
  EXPECT_EQ(PredictRoute::decide({{0.9, 0.1}, {0.95, 0.1}}, 0.8), 1u);
}

TEST_F(MultiRouterFixture, MissingCellsAreCountedNotZeroed) {
  EXPECT_EQ(report_.n_rows, 200);
  EXPECT_EQ(report_.missing_cells, 9);
  ASSERT_EQ(report_.models.size(), 3u);
  auto missing = [](const train::ModelTrainReport& m) {
    return m.missing_fit + m.missing_calibration + m.missing_test;
  };
  auto graded = [](const train::ModelTrainReport& m) {
    return m.n_fit + m.n_calibration + m.n_test;
  };
  EXPECT_EQ(report_.models[0].name, "cheap");
  EXPECT_EQ(missing(report_.models[0]), 3);
  EXPECT_EQ(graded(report_.models[0]), 197);
  EXPECT_EQ(missing(report_.models[1]), 6);
  EXPECT_EQ(graded(report_.models[1]), 194);
  EXPECT_EQ(missing(report_.models[2]), 0);
  // mid is right on every graded row: had the empty cells been read as 0 its validation base
  // rate would be below 1.
  EXPECT_DOUBLE_EQ(report_.models[1].validation.base_rate, 1.0);

  std::ifstream in(opts_.out_path + ".json");
  std::stringstream buf;
  buf << in.rdbuf();
  const auto meta = boost::json::parse(buf.str()).as_object();
  const auto& block = meta.at("multi_router").as_object();
  EXPECT_EQ(block.at("missing_cells").as_int64(), 9);
  const auto& mid = block.at("models").as_array()[1].as_object();
  const auto& mc = mid.at("missing_cells").as_object();
  EXPECT_EQ(mc.at("fit").as_int64() + mc.at("calibration").as_int64() + mc.at("test").as_int64(), 6);
  EXPECT_TRUE(block.at("split").is_object());
  EXPECT_EQ(block.at("data_files").as_array().size(), 1u);
  EXPECT_TRUE(mid.at("validation").as_object().contains("auc"));
  EXPECT_TRUE(mid.at("validation").as_object().contains("ece"));
}

TEST_F(MultiRouterFixture, GoldenDecisionsThroughTheRouteEngine) {
  engine::register_route_kinds_and_checks();
  config::Config cfg = config::load_config(config(0.8));
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  auto table = routes::RouteTable::build(cfg, reg, [](const char*) -> const char* { return nullptr; });
  auto* route = dynamic_cast<PredictRoute*>(table->find("default"));
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->kind(), "predict/1");
  EXPECT_DOUBLE_EQ(route->bar(), 0.8);

  const std::vector<std::string> prompts = {"name the fruit banana question 2",
                                            "prove the integral question 1",
                                            "name the fruit cherry question 4",
                                            "prove the theorem question 3"};
  std::vector<std::string> answered, details;
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (const auto& p : prompts) {
          core::ChatRequest req;
          req.messages.push_back(core::Message{"user", p, {}});
          core::Trace trace;
          routes::ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(10)};
          auto r = co_await route->run(req, ctx, nullptr);
          answered.push_back(r ? r->model : "error: " + r.error().message);
          EXPECT_EQ(trace.spans.front().kind, core::SpanKind::kRoute);
          details.push_back(trace.spans.front().detail);
        }
      },
      boost::asio::detached);
  io.run();
  // The fruit prompts: cheap clears 0.8. The proofs: cheap does not, mid (right wherever graded)
  // does and is cheaper than pricey.
  EXPECT_EQ(answered, (std::vector<std::string>{"cheap", "mid", "cheap", "mid"}));
  EXPECT_EQ(details[0].rfind("-> cheap (p=", 0), 0u) << details[0];
  EXPECT_NE(details[1].find("pricey="), std::string::npos) << details[1];

  // The knob: above every prediction, the highest predicted score wins; at 0, the cheapest.
  core::ChatRequest hard;
  hard.messages.push_back(core::Message{"user", prompts[1], {}});
  const auto opts = route->options(hard);
  ASSERT_EQ(opts.size(), 3u);
  EXPECT_LT(opts[0].cost_usd, opts[1].cost_usd);
  EXPECT_LT(opts[1].cost_usd, opts[2].cost_usd);
  EXPECT_LT(opts[0].score, 0.5);
  EXPECT_EQ(PredictRoute::decide(opts, 0.0), 0u);
  // The same knob through the routes::Knob interface that sweeps use.
  auto knobs = routes::knobs_of(*route);
  ASSERT_EQ(knobs.size(), 1u);
  EXPECT_EQ(knobs[0]->name(), "bar");
  knobs[0]->set(0.0);
  EXPECT_DOUBLE_EQ(route->bar(), 0.0);
  EXPECT_EQ(PredictRoute::decide(opts, knobs[0]->get()), 0u);
  knobs[0]->set(0.8);
  EXPECT_EQ(PredictRoute::decide(opts, route->bar()), 1u);
  EXPECT_EQ(knobs[0]->range(), (std::pair<double, double>{0.0, 1.0}));

  // `triage eval` sees a choice among its candidates, with this knob as the bar.
  const routes::EvalFamily family = route->eval_family();
  const auto* candidates = std::get_if<routes::CandidatesEval>(&family);
  ASSERT_NE(candidates, nullptr);
  EXPECT_EQ(candidates->candidates, (std::vector<std::string>{"cheap", "mid", "pricey"}));
  EXPECT_EQ(candidates->bar, knobs[0]);
  EXPECT_EQ(candidates->bar->model_path(), route->predictor().path());
}

// Wraps a model's client: while `down` is set, every call fails with a connect error (typed, as
// a real provider reports it), which opens the model's circuit.
class DownableClient final : public providers::ModelClient {
 public:
  DownableClient(std::unique_ptr<providers::ModelClient> inner, const bool& down)
      : inner_(std::move(inner)), down_(down) {}
  std::string_view name() const override { return inner_->name(); }
  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime deadline,
                                                            providers::CallStats& stats) override {
    if (down_) {
      stats.failure = control::UpstreamFailure{};
      co_return make_error(ErrorCode::kUpstreamError, "upstream refused the connection");
    }
    co_return co_await inner_->complete(req, deadline, stats);
  }
  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                          SteadyTime deadline,
                                                          providers::CallStats& stats,
                                                          core::StreamSink& sink) override {
    co_return co_await inner_->stream(req, deadline, stats, sink);
  }

 private:
  std::unique_ptr<providers::ModelClient> inner_;
  const bool& down_;
};

TEST_F(MultiRouterFixture, ACandidateWhoseCircuitIsOpenIsSkipped) {
  engine::register_route_kinds_and_checks();
  config::Config cfg = config::load_config(config(0.8));
  for (auto& m : cfg.models) {
    m.resilience.retries.max = 0;
    m.resilience.breaker.consecutive_failures = 1;
  }
  bool cheap_down = false;
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  const providers::ProviderFactory replay = *reg.find("replay");
  reg.add("replay", [&, replay](const config::Config& c, const config::Model& m,
                                const providers::EnvLookup& env) {
    static const bool never = false;
    return std::make_unique<DownableClient>(replay(c, m, env),
                                            m.name == "cheap" ? cheap_down : never);
  });
  auto table = routes::RouteTable::build(cfg, reg, [](const char*) -> const char* { return nullptr; });
  auto* route = dynamic_cast<PredictRoute*>(table->find("default"));
  ASSERT_NE(route, nullptr);

  std::vector<std::string> answered, details;
  auto ask = [&](const std::string& prompt) {
    boost::asio::io_context io;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          core::ChatRequest req;
          req.messages.push_back(core::Message{"user", prompt, {}});
          core::Trace trace;
          routes::ExecContext ctx{trace, SteadyClock::now(),
                                  SteadyClock::now() + std::chrono::seconds(10)};
          auto r = co_await route->run(req, ctx, nullptr);
          answered.push_back(r ? r->model : "error");
          details.push_back(trace.spans.front().detail);
        },
        boost::asio::detached);
    io.run();
  };
  cheap_down = true;
  ask("name the fruit banana question 2");  // cheap is chosen, fails, and its circuit opens
  ask("name the fruit banana question 2");  // cheap is skipped: the next choice answers
  EXPECT_EQ(answered, (std::vector<std::string>{"error", "mid"}));
  EXPECT_NE(details[1].find("(circuit open: skipped cheap)"), std::string::npos) << details[1];
}

TEST_F(MultiRouterFixture, ConfigErrorsNameTheField) {
  engine::register_route_kinds_and_checks();
  std::string path = config(0.8);
  std::string text;
  {
    std::ifstream in(path);
    std::stringstream b;
    b << in.rdbuf();
    text = b.str();
  }
  text.replace(text.find("[cheap, mid, pricey]"), 20, "[cheap, mdi]");
  std::ofstream(path, std::ios::trunc) << text;
  config::Config cfg = config::load_config(path);
  providers::ProviderRegistry reg;
  providers::register_builtin_providers(reg);
  try {
    routes::RouteTable::build(cfg, reg, [](const char*) -> const char* { return nullptr; });
    FAIL() << "an unknown candidate must be refused";
  } catch (const config::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("routes[0].candidates[1]"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'mid'"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace triage
