// The SLO controller on real config versions and knobs, with time passed in (docs/slo.md):
// a breach moves the knob through KnobMoves (an event with who and why), the hold spaces
// moves, a recovery with margin moves it back, observe mode records without moving, late
// feedback counts against the request's slice, and the position survives a restart and a
// reload when the file's value of the knob did not change.
#include "server/slo_controller.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/review_flag.h"
#include "engine/built_config.h"
#include "routes/knob.h"
#include "server/access_control.h"
#include "server/config_versions.h"
#include "server/knob_moves.h"
#include "telemetry/metrics.h"
#include "telemetry/request_store.h"
#include "slo_traffic.h"

namespace triage::server {
namespace {

const char* no_env(const char*) { return nullptr; }

std::string config_yaml(const std::string& store, int medium_weight = 10,
                        const std::string& mode = "act", int window_s = 10) {
  return "store: " + store +
         "\n"
         "tiers: [small, medium]\n"
         "models:\n"
         "  - {name: s, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: small}\n"
         "  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: medium}\n"
         "routes:\n"
         "  - name: main\n"
         "    type: split\n"
         "    children: [{route: s, weight: 90}, {route: m, weight: " +
         std::to_string(medium_weight) +
         "}]\n"
         "slos:\n"
         "  - name: small-tier\n"
         "    scope: {tier: small}\n"
         "    target: 0.9\n"
         "    window_s: " +
         std::to_string(window_s) +
         "\n"
         "    min_requests: 50\n"
         "    mode: " +
         mode +
         "\n"
         "    action: {route: main, knob: \"children[1].weight\", toward: 90, step: 40, hold_s: 5, "
         "margin: 0.03}\n";
}

// One gateway's worth of the parts the controller uses.
struct Parts {
  explicit Parts(const std::string& yaml) {
    std::unique_ptr<engine::BuiltConfig> built = engine::build_config(yaml, "t.yaml", no_env);
    cfg = built->cfg;
    store = telemetry::make_request_store(cfg);
    metrics = std::make_unique<telemetry::Metrics>(telemetry::MetricsOptions::from_config(cfg));
    access = std::make_unique<AccessControl>(cfg, no_env);
    versions = std::make_unique<ConfigVersions>(std::move(built), engine::ConfigAdjust{}, no_env,
                                                *metrics, *access);
    moves = std::make_unique<KnobMoves>(*versions, *metrics);
    controller = std::make_unique<SloController>(*versions, *moves, *metrics, [this] { return now; });
    controller->evaluate(now);  // as start() does: the serving version's SLOs, saved state restored
  }
  ~Parts() {
    controller.reset();
    store->close();
  }
  double weight() const {
    return find_knob(*versions->current(), "main", "children[1].weight")->get();
  }
  // `n` finished requests of the small tier at `now`, the first `failed` of them failed.
  void traffic(int n, int failed, const std::string& id_prefix = "r") {
    for (const core::TracePtr& t : testing::small_tier_traces(n, failed, id_prefix)) {
      controller->consume(t);
    }
  }

  int64_t now = 1'000'000;
  config::Config cfg;
  std::unique_ptr<telemetry::RequestStore> store;
  std::unique_ptr<telemetry::Metrics> metrics;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<ConfigVersions> versions;
  std::unique_ptr<KnobMoves> moves;
  std::unique_ptr<SloController> controller;
};

// The first SLO of GET /admin/slos.
boost::json::object first_slo(const boost::json::object& status) {
  return status.at("data").as_array().at(0).as_object();
}

TEST(SloSuccess, WhatCountsAndWhatDoesNot) {
  core::Trace t;
  EXPECT_EQ(slo_success(t), true);
  t.flags.push_back(core::ReviewFlag::kFinalChecksFailed);
  EXPECT_EQ(slo_success(t), false);
  t = {};
  t.http_status = 503;
  t.error_code = "unavailable";
  EXPECT_EQ(slo_success(t), false);
  t.http_status = 400;  // the client's mistake is not the tier's
  EXPECT_EQ(slo_success(t), std::nullopt);
  t = {};
  t.cache = core::CacheOutcome::kHit;
  EXPECT_EQ(slo_success(t), std::nullopt);
  t = {};
  t.flags.push_back(core::ReviewFlag::kShadow);
  EXPECT_EQ(slo_success(t), std::nullopt);
}

TEST(SloController, BreachMovesTowardHoldSpacesMovesRecoveryMovesBack) {
  Parts p(config_yaml("{type: none}"));
  p.traffic(100, 20);
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 50);
  auto events = p.versions->knob_events(10);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().who, "controller:small-tier");
  EXPECT_EQ(events->front().reason, "slo small-tier 0.80 < 0.90 over 10 s (n=100)");
  EXPECT_DOUBLE_EQ(events->front().before, 10);
  EXPECT_DOUBLE_EQ(events->front().after, 50);
  const std::string text = p.metrics->render();
  EXPECT_NE(text.find("triage_slo_success_ratio{slo=\"small-tier\"} 0.8"), std::string::npos);
  EXPECT_NE(text.find("triage_slo_burn_rate{slo=\"small-tier\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("triage_slo_budget_remaining{slo=\"small-tier\"} -1"), std::string::npos);

  p.now += 4'999;  // still breached, inside the hold
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 50);
  p.now += 1;
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 90);
  p.now += 10'000;
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 90);  // at `toward`: never past it

  // Recovered: the old window has gone; 100 successes now.
  p.now += 20'000;
  p.traffic(100, 0, "ok");
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 90);  // recovered since now: the hold runs first
  p.now += 5'000;
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 50);
  events = p.versions->knob_events(1);
  EXPECT_EQ(events->front().reason,
            "slo small-tier 1.00 >= 0.93 for 5 s over 10 s (n=100): back toward the file's 10");
  boost::json::object status = p.controller->status(p.now);
  const boost::json::object slo = first_slo(status);
  EXPECT_EQ(slo.at("requests").as_int64(), 100);
  const boost::json::object& c = slo.at("controller").as_object();
  EXPECT_DOUBLE_EQ(c.at("position").as_double(), 50);
  EXPECT_EQ(c.at("last_move_ms").as_int64(), p.now);
}

TEST(SloController, ObserveModeRecordsTheEventAndLeavesTheKnob) {
  Parts p(config_yaml("{type: none}", 10, "observe"));
  p.traffic(100, 20);
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 10);
  auto events = p.versions->knob_events(10);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().who, "controller:small-tier (observe)");
  EXPECT_DOUBLE_EQ(events->front().after, 50);
  // Its virtual position goes on from there.
  p.now += 5'000;
  p.controller->evaluate(p.now);
  events = p.versions->knob_events(10);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_DOUBLE_EQ(events->front().before, 50);
  EXPECT_DOUBLE_EQ(events->front().after, 90);
  EXPECT_DOUBLE_EQ(p.weight(), 10);
}

TEST(SloController, NegativeFeedbackAndIncorrectLabelsCountInTheWindow) {
  Parts p(config_yaml("{type: none}"));
  p.traffic(100, 5);  // 0.95: met
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 10);
  for (int i = 10; i < 13; ++i) p.controller->late_feedback("r" + std::to_string(i), 0.0);
  p.controller->late_feedback("r20", 1.0);                // positive: nothing
  p.controller->late_label("r30", true, "");              // correct: nothing
  p.controller->late_label("r40", false, "");             // incorrect
  p.controller->late_feedback("r40", 0.0);                // the same request again: once
  p.controller->late_feedback("r2", 0.0);                 // already a failure: nothing
  p.controller->late_feedback("unknown", 0.0);
  EXPECT_DOUBLE_EQ(first_slo(p.controller->status(p.now)).at("success_ratio").as_double(), 0.91);
  p.controller->late_feedback("r41", 0.2);
  p.controller->late_feedback("r42", 0.2);
  p.controller->evaluate(p.now);
  EXPECT_DOUBLE_EQ(p.weight(), 50);  // 0.89 < 0.90
}

TEST(SloController, PositionSurvivesARestartAndAReloadWhileTheFileValueIsTheSame) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("slo_state_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string store = "{type: sqlite, path: " + (dir / "t.db").string() + "}";
  int64_t moved_at = 0;
  {
    Parts p(config_yaml(store));
    p.traffic(100, 20);
    p.controller->evaluate(p.now);
    ASSERT_DOUBLE_EQ(p.weight(), 50);
    moved_at = p.now;
  }
  {
    Parts p(config_yaml(store));  // the file says 10
    p.now = moved_at + 1'000;
    EXPECT_DOUBLE_EQ(p.weight(), 50);  // restored at start
    auto events = p.versions->knob_events(1);
    EXPECT_NE(events->front().reason.find("restored after a restart"), std::string::npos);
    // The hold still counts from the move before the restart.
    EXPECT_EQ(first_slo(p.controller->status(p.now)).at("controller").as_object().at("last_move_ms"),
              moved_at);
    // A reload that keeps the knob's file value keeps the position; the new version's knob
    // is moved there.
    ASSERT_TRUE(p.versions->apply(config_yaml(store, 10, "act", 20), "t.yaml", "admin", "test"));
    EXPECT_DOUBLE_EQ(p.weight(), 10);
    p.controller->evaluate(p.now);
    EXPECT_DOUBLE_EQ(p.weight(), 50);
    // One that changes it starts from the file's value.
    ASSERT_TRUE(p.versions->apply(config_yaml(store, 20), "t.yaml", "admin", "test"));
    p.controller->evaluate(p.now);
    EXPECT_DOUBLE_EQ(p.weight(), 20);
  }
  {
    Parts p(config_yaml(store, 20));  // the saved state says file value 20, at 20: nothing
    EXPECT_DOUBLE_EQ(p.weight(), 20);
    EXPECT_EQ(p.versions->knob_events(10)->size(), 3u);  // toward, restart, reload; none since
  }
  fs::remove_all(dir);
}

// A `router:` SLO's verdicts: review labels and the comparison of a shadowed model of another
// tier, each decision counted once; a reviewer's "wrong" overturns a shadow's "right".
TEST(SloController, RouterAccuracyFromShadowComparisonsAndLabelsOncePerDecision) {
  Parts p(config_yaml("{type: none}") +
          "  - {name: router, scope: {router: main}, target: 0.8, window_s: 10, min_requests: 1}\n");
  auto served = [&](const std::string& id, const std::string& tier) {
    auto t = std::make_shared<core::Trace>();
    t->request_id = id;
    t->model = tier == "small" ? "s" : "m";
    t->tier = tier;
    t->route = "main";
    p.controller->consume(t);
  };
  auto shadow = [&](const std::string& parent, const std::string& tier, std::optional<bool> agrees) {
    auto t = std::make_shared<core::Trace>();
    t->request_id = parent + "-s0";
    t->model = tier == "small" ? "s" : "m";
    t->tier = tier;
    t->route = "main";
    t->flags.push_back(core::ReviewFlag::kShadow);
    core::Span span;
    span.agrees = agrees;
    t->spans.push_back(span);
    p.controller->consume(t);
  };
  auto router = [&] {
    const boost::json::object status = p.controller->status(p.now);
    return status.at("data").as_array().at(1).as_object();
  };
  served("a", "small");
  shadow("a", "medium", true);   // small served, medium agrees: right
  served("b", "small");
  shadow("b", "medium", false);  // small served, medium differs: wrong
  served("c", "medium");
  shadow("c", "small", true);    // medium served though small agrees: wrong (overspent)
  served("d", "medium");
  shadow("d", "small", false);   // medium served, small differs: right
  served("e", "small");
  shadow("e", "small", true);    // the same tier: no evidence
  served("f", "small");
  shadow("f", "medium", std::nullopt);  // the candidate failed: no comparison
  shadow("unknown", "medium", true);
  EXPECT_EQ(router().at("requests").as_int64(), 4);
  EXPECT_DOUBLE_EQ(router().at("success_ratio").as_double(), 0.5);

  p.controller->late_label("a", true, "");    // already judged right: once
  p.controller->late_label("e", true, "");    // not judged yet: right
  p.controller->late_label("e", false, "");   // a second label on it: judged already, overturns
  EXPECT_EQ(router().at("requests").as_int64(), 5);
  EXPECT_DOUBLE_EQ(router().at("success_ratio").as_double(), 0.4);
  p.controller->late_label("a", false, "medium");  // the reviewer: medium was needed
  EXPECT_EQ(router().at("requests").as_int64(), 5);
  EXPECT_DOUBLE_EQ(router().at("success_ratio").as_double(), 0.2);
  shadow("d", "small", true);  // d was judged: a second comparison changes nothing
  EXPECT_DOUBLE_EQ(router().at("success_ratio").as_double(), 0.2);
}

}  // namespace
}  // namespace triage::server
