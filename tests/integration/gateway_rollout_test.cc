// Progressive rollouts through the real gateway and upstream (docs/rollout.md): a good
// candidate goes through every step and is promoted; a candidate that errs, one that is slower
// and one that disagrees with the primary (a shadow beside it) are each rolled back at the
// step where the gate failed, with the weights back; pause/resume/abort and the state after a
// restart through the admin API.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kAdminToken[] = "admin-TOKEN-rollout-77a1";
constexpr char kClientKey[] = "client-SECRET-rollout-3f0c";

// Upstream behaviours of the candidates (test upstream modes).
struct Candidate {
  const char* name;
  const char* mode;
  const char* gates;
};
// The good candidate is as fast as stable; its p95 over 12 requests is nearly their maximum,
// so one request stalled by a loaded CI host (100 ms against 24 ms, seen) must not roll it
// back: the ratio that fails is far from the 1x it has. The slow candidate is 20x.
constexpr Candidate kGood{"good", "slow-20", "{max_success_drop: 0.1, max_p95_ratio: 10, max_cost_ratio: 1.5}"};
constexpr Candidate kErring{"erring", "error-500", "{max_success_drop: 0.1}"};
constexpr Candidate kSlow{"slow", "slow-400", "{max_p95_ratio: 3}"};
// The shadow beside the candidate compares its answers with the primary's (stable): "tok1
// tok2 tok3" never agrees with stable's "echo: ...".
constexpr Candidate kDiffers{"differs", "tokens-3", "{min_agreement: 0.8}"};

std::string config_yaml(int upstream_port, const std::string& db, const Candidate& c,
                        const std::string& start = "auto") {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& mode, int price) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", upstream_model: \"mode:" + mode + "\", tier: small, retries: {max: 0}, "
           "prices: {input: " + std::to_string(price) + ", output: " + std::to_string(price) +
           "}}\n";
  };
  const bool shadowed = std::string(c.name) == kDiffers.name;
  std::string y = "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
                  "store: {type: sqlite, path: " + db + ", flush_interval_ms: 20}\n"
                  "tiers: [small]\n"
                  "models:\n" +
                  model("stable", "slow-20", 100) + model(c.name, c.mode, 80) +
                  "routes:\n";
  std::string candidate_route = c.name;
  if (shadowed) {
    // The candidate serves; the incumbent runs beside it and every answer is compared.
    y += "  - {name: cand, type: shadow, primary: " + std::string(c.name) +
         ", candidates: [stable], sample: 1}\n";
    candidate_route = "cand";
  }
  y += "  - name: chat\n"
       "    type: split\n"
       "    children: [{route: stable, weight: 100}, {route: " + candidate_route +
       ", weight: 0}]\n"
       "    rollout:\n"
       "      candidate: " + candidate_route + "\n"
       "      steps: [20, 50, 100]\n"
       "      hold_s: 1\n"
       "      min_requests: 12\n"
       "      start: " + start + "\n"
       "      evaluate_every_ms: 50\n"
       "      gates: " + std::string(c.gates) + "\n"
       "auth:\n"
       "  admin_token_env: TRIAGE_ADMIN_TOKEN\n"
       "  keys:\n"
       "    - {name: client, secret_env: CLIENT_KEY}\n";
  return y;
}

std::string state_of(const json::object& o) {
  return o.contains("state") ? std::string(o.at("state").as_string()) : "";
}

const std::string kChatBody =
    R"({"model":"chat","messages":[{"role":"user","content":"two words"}]})";

// The gate failure at the first step (20%): rolled back, reason naming the gate, weights back.
void expect_rolled_back(const json::object& o, const std::string& candidate,
                        const std::string& reason_start) {
  ASSERT_EQ(state_of(o), "rolled_back") << json::serialize(o);
  const json::array& events = o.at("events").as_array();
  ASSERT_GE(events.size(), 2u);
  const json::object& last = events.back().as_object();
  EXPECT_EQ(last.at("kind").as_string(), "rolled_back");
  EXPECT_EQ(last.at("step").as_int64(), 0) << "rolled back at the step where it failed";
  const std::string reason(last.at("reason").as_string());
  EXPECT_EQ(reason.rfind(reason_start, 0), 0u) << reason;
  EXPECT_DOUBLE_EQ(o.at("weights").at(candidate).to_number<double>(), 0);
  EXPECT_DOUBLE_EQ(o.at("weights").at("stable").to_number<double>(), 100);
}

class RolloutTest : public ::testing::Test {
 protected:
  void start(const Candidate& c, const std::string& start_mode = "auto") {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), dir_.file("triage.db"), c,
                                                     start_mode));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{
                                        {"TRIAGE_ADMIN_TOKEN", kAdminToken}, {"CLIENT_KEY", kClientKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }

  HttpResponse admin(const std::string& method, const std::string& target,
                     const std::string& body = {}) {
    return http_request(gw_->port(), method, target, body,
                        {{"authorization", std::string("Bearer ") + kAdminToken}},
                        Millis(10000));
  }
  json::object rollout() {
    const HttpResponse r = admin("GET", "/admin/rollouts");
    EXPECT_EQ(r.status, 200) << r.body;
    const json::value v = r.json();
    if (!v.is_object() || v.at("data").as_array().empty()) return {};
    return v.at("data").as_array().at(0).as_object();
  }

  // Sends traffic (two clients) until the rollout is in one of `until` or `deadline` passes;
  // returns the last GET /admin/rollouts entry.
  json::object drive(const std::vector<std::string>& until, Millis deadline = Millis(40000)) {
    std::atomic<bool> done{false};
    auto client = [&] {
      while (!done.load()) {
        http_request(gw_->port(), "POST", "/v1/chat/completions", kChatBody,
                     {{"content-type", "application/json"},
                      {"authorization", std::string("Bearer ") + kClientKey}},
                     Millis(10000));
      }
    };
    std::thread a(client), b(client);
    json::object last;
    const auto stop_at = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < stop_at) {
      last = rollout();
      const std::string s = state_of(last);
      if (std::find(until.begin(), until.end(), s) != until.end()) break;
    }
    done = true;
    a.join();
    b.join();
    return last;
  }

  static std::vector<std::string> kinds(const json::object& o) {
    std::vector<std::string> out;
    for (const json::value& e : o.at("events").as_array()) {
      out.emplace_back(e.at("kind").as_string());
    }
    return out;
  }
  static double weight(const json::object& o, const std::string& child) {
    return o.at("weights").at(child).to_number<double>();
  }

  Upstream up_{2};
  TempDir dir_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(RolloutTest, GoodCandidateGoesThroughEveryStepAndIsPromoted) {
  start(kGood);
  const json::object o = drive({"promoted", "rolled_back", "aborted"});
  ASSERT_EQ(state_of(o), "promoted") << json::serialize(o);
  EXPECT_EQ(kinds(o), (std::vector<std::string>{"started", "advanced", "advanced", "promoted"}))
      << json::serialize(o);
  EXPECT_DOUBLE_EQ(o.at("percent").to_number<double>(), 100);
  EXPECT_DOUBLE_EQ(weight(o, "good"), 100);
  EXPECT_DOUBLE_EQ(weight(o, "stable"), 0);
  // Every weight move is a knob event by the rollout.
  const HttpResponse knobs = admin("GET", "/admin/knobs");
  ASSERT_EQ(knobs.status, 200);
  int by_rollout = 0;
  const json::value knob_list = knobs.json();
  for (const json::value& e : knob_list.at("events").as_array()) {
    if (e.at("who").as_string() == "rollout:chat") ++by_rollout;
  }
  EXPECT_EQ(by_rollout, 6) << knobs.body;  // 3 steps x 2 children
  const HttpResponse metrics = http_request(gw_->port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("triage_rollout_step_percent{route=\"chat\"} 100"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("triage_rollout_state{route=\"chat\",state=\"promoted\"} 1"),
            std::string::npos);
}

TEST_F(RolloutTest, CandidateThatErrsIsRolledBackAtTheFirstStep) {
  start(kErring);
  const json::object o = drive({"promoted", "rolled_back", "aborted"});
  expect_rolled_back(o, "erring", "step 1 (20%): success 0.0% < 100.0% - 10.0 pts");
}

TEST_F(RolloutTest, SlowerCandidateIsRolledBackOnItsP95) {
  start(kSlow);
  const json::object o = drive({"promoted", "rolled_back", "aborted"});
  expect_rolled_back(o, "slow", "step 1 (20%): p95 ");
  const std::string reason(o.at("events").as_array().back().at("reason").as_string());
  EXPECT_NE(reason.find(" ms > 3 x "), std::string::npos) << reason;
}

TEST_F(RolloutTest, CandidateThatDisagreesWithThePrimaryIsRolledBack) {
  start(kDiffers);
  const json::object o = drive({"promoted", "rolled_back", "aborted"});
  expect_rolled_back(o, "cand", "step 1 (20%): agreement 0.0% < 80.0%");
}

TEST_F(RolloutTest, ManualStartPauseResumeAbortAndRestoreAfterRestart) {
  start(kGood, "manual");
  json::object o = rollout();
  EXPECT_EQ(state_of(o), "pending");
  EXPECT_DOUBLE_EQ(weight(o, "good"), 0);
  EXPECT_EQ(admin("POST", "/admin/rollouts/pause", R"({"route":"chat"})").status, 400)
      << "a pending rollout cannot be paused";
  EXPECT_EQ(admin("POST", "/admin/rollouts/start", R"({"route":"nope"})").status, 404);
  EXPECT_EQ(admin("POST", "/admin/rollouts/start", R"({"route":"chat"})").status, 200);
  o = rollout();
  EXPECT_EQ(state_of(o), "running");
  EXPECT_DOUBLE_EQ(weight(o, "good"), 20);
  EXPECT_DOUBLE_EQ(weight(o, "stable"), 80);
  ASSERT_EQ(admin("POST", "/admin/rollouts/pause", R"({"route":"chat"})").status, 200);
  // Paused: traffic flows, the step stays.
  o = drive({"__never__"}, Millis(2500));
  EXPECT_EQ(state_of(o), "paused");
  EXPECT_EQ(o.at("step").as_int64(), 0);
  EXPECT_DOUBLE_EQ(weight(o, "good"), 20);

  // A restart keeps the state and the weights of the step.
  ASSERT_TRUE(gw_->process().terminate(Millis(15000)).has_value());
  gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                  std::map<std::string, std::string>{
                                      {"TRIAGE_ADMIN_TOKEN", kAdminToken}, {"CLIENT_KEY", kClientKey}});
  ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  o = rollout();
  EXPECT_EQ(state_of(o), "paused");
  EXPECT_DOUBLE_EQ(weight(o, "good"), 20);
  EXPECT_DOUBLE_EQ(weight(o, "stable"), 80);
  std::vector<std::string> k = kinds(o);
  ASSERT_FALSE(k.empty());
  EXPECT_EQ(k.back(), "restored");

  ASSERT_EQ(admin("POST", "/admin/rollouts/resume", R"({"route":"chat"})").status, 200);
  o = drive({"running"}, Millis(100));
  EXPECT_EQ(state_of(o), "running");
  const HttpResponse aborted = admin("POST", "/admin/rollouts/abort", R"({"route":"chat"})");
  ASSERT_EQ(aborted.status, 200) << aborted.body;
  o = rollout();
  EXPECT_EQ(state_of(o), "aborted");
  EXPECT_DOUBLE_EQ(weight(o, "good"), 0);
  EXPECT_DOUBLE_EQ(weight(o, "stable"), 100);
  EXPECT_EQ(admin("POST", "/admin/rollouts/abort", R"({"route":"chat"})").status, 400);
  // Without the admin credential: refused.
  EXPECT_EQ(http_request(gw_->port(), "GET", "/admin/rollouts").status, 401);
}

}  // namespace
}  // namespace triage::testing
