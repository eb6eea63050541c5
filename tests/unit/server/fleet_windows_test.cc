// Fleet numbers (docs/scaling.md "Fleet numbers", server/fleet_windows.h): replicas on one
// shared SQLite store publish their windows' slices and judge on the sum. Two replicas in one
// process, each with its own FleetWindows, SloController or Rollouts; time is injected and
// sync() is called by the test, so nothing waits.
#include "server/fleet_windows.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/built_config.h"
#include "routes/split_route.h"
#include "server/access_control.h"
#include "server/config_versions.h"
#include "server/knob_moves.h"
#include "server/rollouts.h"
#include "server/slo_controller.h"
#include "telemetry/request_store.h"
#include "telemetry/store_reader.h"
#include "slo_traffic.h"

namespace triage::server {
namespace {

const char* no_env(const char*) { return nullptr; }

constexpr int64_t kPeriodMs = 1000;

class SharedStore : public ::testing::Test {
 protected:
  SharedStore()
      : dir_(std::filesystem::temp_directory_path() /
             ("triage_fleet_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SharedStore() override { std::filesystem::remove_all(dir_); }

 public:
  std::string path() const { return (dir_ / "shared.db").string(); }
  std::string store_yaml() const {
    return "store: {type: sqlite, path: " + path() +
           ", config_poll_ms: " + std::to_string(kPeriodMs) + "}\n";
  }
  std::unique_ptr<FleetWindows> fleet(telemetry::Metrics& m, const std::string& replica,
                                      bool writes = true) {
    telemetry::StoreReaderOptions o;
    o.review_writes = writes;
    auto reader = telemetry::open_store_reader(path(), o);
    EXPECT_TRUE(reader) << reader.error().message;
    return std::make_unique<FleetWindows>(std::move(reader).value(), kPeriodMs, m, replica);
  }
  // Replicas A and B on the shared store, each publishing one window under key "k".
  struct TwoReplicas {
    explicit TwoReplicas(SharedStore& t) : a(t.fleet(ma, "A")), b(t.fleet(mb, "B")) {
      a->add("k", wa);
      b->add("k", wb);
    }
    telemetry::Metrics ma, mb;
    std::unique_ptr<FleetWindows> a, b;
    std::shared_ptr<control::OutcomeWindow> wa = window();
    std::shared_ptr<control::OutcomeWindow> wb = window();
    static std::shared_ptr<control::OutcomeWindow> window() {
      return std::make_shared<control::OutcomeWindow>(60'000, 60);
    }
  };
  // Creates the store's schema, as a gateway's writer does at start-up.
  void create_store() {
    config::Config cfg = config::parse_config(
        store_yaml() +
            "models:\n  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n",
        "t.yaml");
    telemetry::make_request_store(cfg)->close();
  }

 protected:
  std::filesystem::path dir_;
};

double line_value(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

TEST(FleetLatency, EncodedHistogramsReadBackAndBadEntriesAreSkipped) {
  std::array<uint32_t, control::kLatencyBins> h{};
  h[0] = 3;
  h[17] = 1;
  h[95] = 4000000000u;
  const std::string text = encode_latency(h);
  EXPECT_EQ(text, "0:3,17:1,95:4000000000");
  EXPECT_EQ(decode_latency(text), h);
  const auto bad = decode_latency("x,5:2,999:1,7:,:3,9:1");
  EXPECT_EQ(bad[5], 2u);
  EXPECT_EQ(bad[9], 1u);
  uint64_t total = 0;
  for (uint32_t c : bad) total += c;
  EXPECT_EQ(total, 3u);
}

TEST_F(SharedStore, EachReplicaCountsTheOthersSlicesAndLeavesOutOneThatStopped) {
  create_store();
  TwoReplicas r(*this);
  auto& [ma, mb, a, b, wa, wb] = r;
  int64_t now = 1'000'000;
  for (int i = 0; i < 10; ++i) wa->record(now, {true, 10, 0.01, {}});
  for (int i = 0; i < 5; ++i) wb->record(now, {false, 900, 0.02, {}});
  EXPECT_EQ(a->stats("k", *wa, now).stats.requests, 10);  // nothing read yet
  a->sync(now);
  b->sync(now);
  a->sync(now);
  FleetStats fa = a->stats("k", *wa, now);
  EXPECT_EQ(fa.replicas, 2);
  EXPECT_EQ(fa.stats.requests, 15);
  EXPECT_EQ(fa.stats.ok, 10);
  EXPECT_NEAR(fa.stats.cost_usd, 0.2, 1e-12);
  EXPECT_EQ(fa.stats.p95_latency_ms, wb->stats(now).p95_latency_ms);  // B's tail is the fleet's
  FleetStats fb = b->stats("k", *wb, now);
  EXPECT_EQ(fb.stats.requests, 15);
  EXPECT_EQ(line_value(ma.render(), "triage_fleet_replicas"), 2);
  // Late news on A reaches B at A's next publish.
  EXPECT_TRUE(wa->mark_failed(now, now + 10));
  a->sync(now + 10);
  b->sync(now + 10);
  EXPECT_EQ(b->stats("k", *wb, now + 10).stats.ok, 9);
  // B stops publishing: A leaves it out after 3 periods (its slices are still in the window).
  a->sync(now + 3 * kPeriodMs);
  EXPECT_EQ(a->stats("k", *wa, now + 3 * kPeriodMs).stats.requests, 15);
  a->sync(now + 3 * kPeriodMs + 11);
  fa = a->stats("k", *wa, now + 3 * kPeriodMs + 11);
  EXPECT_EQ(fa.replicas, 1);
  EXPECT_EQ(fa.stats.requests, 10);
  // A window its owner dropped is no longer published.
  wa.reset();
  a->sync(now + 4 * kPeriodMs);
  b->sync(now + 4 * kPeriodMs);
  EXPECT_EQ(b->stats("k", *wb, now + 4 * kPeriodMs).replicas, 1);
}

TEST_F(SharedStore, ARolloutStepCountsOnlyTheOthersSlicesSinceItBegan) {
  create_store();
  TwoReplicas r(*this);
  auto& [ma, mb, a, b, wa, wb] = r;
  wb->record(10'000, {true, 1, 0, {}});
  wb->record(20'500, {true, 1, 0, {}});
  b->sync(21'000);
  a->sync(21'000);
  EXPECT_EQ(a->stats("k", *wa, 21'000).stats.requests, 2);
  EXPECT_EQ(a->stats("k", *wa, 21'000, /*since_ms=*/15'000).stats.requests, 1);
}

TEST_F(SharedStore, AFailedPublishIsCounted) {
  create_store();
  telemetry::Metrics m;
  auto a = fleet(m, "A", /*writes=*/false);
  auto w = std::make_shared<control::OutcomeWindow>(60'000, 60);
  a->add("k", w);
  w->record(1'000, {true, 1, 0, {}});
  a->sync(1'000);
  a->sync(2'000);
  EXPECT_EQ(line_value(m.render(), "triage_fleet_publish_errors_total"), 2);
}

// ---- The SLO controller on fleet numbers

std::string slo_yaml(const std::string& store) {
  return store +
         "tiers: [small, medium]\n"
         "models:\n"
         "  - {name: s, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: small}\n"
         "  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: medium}\n"
         "routes:\n"
         "  - name: main\n"
         "    type: split\n"
         "    children: [{route: s, weight: 90}, {route: m, weight: 10}]\n"
         "slos:\n"
         "  - name: small-tier\n"
         "    scope: {tier: small}\n"
         "    target: 0.9\n"
         "    window_s: 10\n"
         "    min_requests: 50\n"
         "    action: {route: main, knob: \"children[1].weight\", toward: 90, step: 40, hold_s: 5, "
         "margin: 0.03}\n";
}

// One replica's SLO controller; with a FleetWindows named `replica` on the shared store.
struct SloReplica {
  SloReplica(const std::string& yaml, SharedStore& shared, const std::string& replica,
             bool in_fleet) {
    std::unique_ptr<engine::BuiltConfig> built = engine::build_config(yaml, "t.yaml", no_env);
    cfg = built->cfg;
    store = telemetry::make_request_store(cfg);
    access = std::make_unique<AccessControl>(cfg, no_env);
    versions = std::make_unique<ConfigVersions>(std::move(built), engine::ConfigAdjust{}, no_env,
                                                metrics, *access);
    moves = std::make_unique<KnobMoves>(*versions, metrics);
    if (in_fleet) {
      telemetry::StoreReaderOptions o;
      o.review_writes = true;
      fleet = std::make_unique<FleetWindows>(
          std::move(telemetry::open_store_reader(shared.path(), o)).value(), kPeriodMs, metrics,
          replica);
    }
    controller =
        std::make_unique<SloController>(*versions, *moves, metrics, [this] { return now; });
    controller->set_fleet(fleet.get());
    controller->evaluate(now);
  }
  ~SloReplica() {
    controller.reset();
    store->close();
  }
  double weight() const {
    return find_knob(*versions->current(), "main", "children[1].weight")->get();
  }
  void traffic(int n, int failed, const std::string& prefix) {
    for (const core::TracePtr& t : testing::small_tier_traces(n, failed, prefix)) {
      controller->consume(t);
    }
  }

  int64_t now = 1'000'000;
  config::Config cfg;
  telemetry::Metrics metrics;
  std::unique_ptr<telemetry::RequestStore> store;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<ConfigVersions> versions;
  std::unique_ptr<KnobMoves> moves;
  std::unique_ptr<FleetWindows> fleet;
  std::unique_ptr<SloController> controller;
};

// Each replica alone has 40 requests (under min_requests 50: no verdict); together 80 at
// 0.85 < 0.9: breached, and the knob moves.
TEST_F(SharedStore, AnSloBreachedOnlyByBothReplicasFailuresIsJudgedBreached) {
  SloReplica a(slo_yaml(store_yaml()), *this, "A", true);
  SloReplica b(slo_yaml(store_yaml()), *this, "B", true);
  a.traffic(40, 6, "a");
  b.traffic(40, 6, "b");
  a.controller->evaluate(a.now);
  EXPECT_DOUBLE_EQ(a.weight(), 10) << "alone: too few requests to judge";
  b.fleet->sync(b.now);
  a.fleet->sync(a.now);
  const boost::json::object slo =
      a.controller->status(a.now).at("data").as_array().at(0).as_object();
  EXPECT_EQ(slo.at("requests").as_int64(), 80);
  EXPECT_EQ(slo.at("replicas").as_int64(), 2);
  EXPECT_NEAR(slo.at("success_ratio").as_double(), 68.0 / 80, 1e-12);
  a.controller->evaluate(a.now);
  EXPECT_DOUBLE_EQ(a.weight(), 50);
  auto events = a.versions->knob_events(1);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().reason, "slo small-tier 0.85 < 0.90 over 10 s (n=80)");
}

TEST_F(SharedStore, WithoutTheFleetEachReplicaJudgesItsOwnNumbers) {
  SloReplica a(slo_yaml(store_yaml()), *this, "A", false);
  SloReplica b(slo_yaml(store_yaml()), *this, "B", true);
  a.traffic(40, 6, "a");
  b.traffic(40, 6, "b");
  b.fleet->sync(b.now);
  a.controller->evaluate(a.now);
  EXPECT_DOUBLE_EQ(a.weight(), 10);
  const boost::json::object slo =
      a.controller->status(a.now).at("data").as_array().at(0).as_object();
  EXPECT_EQ(slo.at("requests").as_int64(), 40);
  EXPECT_EQ(slo.at("replicas").as_int64(), 1);
}

// ---- A rollout gate on fleet numbers

std::string rollout_yaml(const std::string& store) {
  return store +
         "models:\n"
         "  - {name: a, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
         "  - {name: b, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
         "routes:\n"
         "  - name: chat\n"
         "    type: split\n"
         "    children: [{route: a, weight: 100}, {route: b, weight: 0}]\n"
         "    rollout:\n"
         "      candidate: b\n"
         "      steps: [5, 100]\n"
         "      hold_s: 60\n"
         "      min_requests: 4\n"
         "      gates: {max_success_drop: 0.1}\n";
}

struct RolloutReplica {
  RolloutReplica(const std::string& yaml, SharedStore& shared, const std::string& replica)
      : cfg(config::parse_config(yaml, "t.yaml")),
        access(cfg, no_env),
        versions(engine::build_config(cfg, no_env), {}, no_env, metrics, access),
        moves(versions, metrics) {
    store = telemetry::make_request_store(cfg);
    telemetry::StoreReaderOptions o;
    o.review_writes = true;
    fleet = std::make_unique<FleetWindows>(
        std::move(telemetry::open_store_reader(shared.path(), o)).value(), kPeriodMs, metrics,
        replica);
    rollouts = std::make_unique<Rollouts>(cfg, versions, moves, metrics, [this] { return now; });
    rollouts->set_fleet(fleet.get());
  }
  ~RolloutReplica() {
    rollouts.reset();
    store->close();
  }
  void serve(const std::string& child, int n, int64_t at_ms, bool ok) {
    now = at_ms + 1;
    for (int i = 0; i < n; ++i) {
      core::Trace t;
      t.time_ms = at_ms;
      t.total_us = 10'000;
      t.split_choices.push_back({"chat", child});
      if (!ok) t.error_code = "upstream_error";
      rollouts->consume(std::make_shared<const core::Trace>(std::move(t)));
    }
  }
  control::RolloutState state(int64_t at) { return rollouts->list(at).at(0).status.state; }

  int64_t now = 1'700'000'000'000;
  config::Config cfg;
  telemetry::Metrics metrics;
  AccessControl access;
  ConfigVersions versions;
  KnobMoves moves;
  std::unique_ptr<telemetry::RequestStore> store;
  std::unique_ptr<FleetWindows> fleet;
  std::unique_ptr<Rollouts> rollouts;
};

// The candidate failed 2 requests on each replica: under min_requests 4 on either alone, a
// failing gate for the fleet (4 failures, 0% against the others' 100%): rolled back.
TEST_F(SharedStore, ARolloutGateFailedOnlyByBothReplicasRequestsRollsBack) {
  create_store();
  const int64_t t0 = 1'700'000'000'000;
  RolloutReplica a(rollout_yaml(store_yaml()), *this, "A");
  RolloutReplica b(rollout_yaml(store_yaml()), *this, "B");
  a.rollouts->tick(t0);
  b.rollouts->tick(t0);
  ASSERT_EQ(a.state(t0), control::RolloutState::kRunning);
  ASSERT_EQ(b.state(t0), control::RolloutState::kRunning);
  a.serve("a", 5, t0 + 10, true);
  a.serve("b", 2, t0 + 10, false);
  b.serve("a", 5, t0 + 10, true);
  b.serve("b", 2, t0 + 10, false);
  a.rollouts->tick(t0 + 20);
  EXPECT_EQ(a.state(t0 + 20), control::RolloutState::kRunning) << "alone: too few to judge";
  b.fleet->sync(t0 + 30);
  a.fleet->sync(t0 + 30);
  const RolloutView v = a.rollouts->list(t0 + 30).at(0);
  EXPECT_EQ(v.candidate.requests, 4);
  EXPECT_EQ(v.others.requests, 10);
  EXPECT_EQ(v.replicas, 2);
  a.rollouts->tick(t0 + 40);
  EXPECT_EQ(a.state(t0 + 40), control::RolloutState::kRolledBack);
}

}  // namespace
}  // namespace triage::server
