// Two real gateways sharing one SQLite store in fleet mode (store.config_poll_ms > 0,
// docs/scaling.md "One controller", "Knobs across replicas"): exactly one is the leader
// (GET /admin/fleet), a knob moved on the follower is served by the leader within the poll,
// a follower's rollout command answers 409 naming the leader, and stopping the leader
// (SIGTERM) hands the lease to the other at once (well before the lease's ttl).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr char kAdminToken[] = "admin-TOKEN-fleet-5c1d";
constexpr int64_t kLeaseMs = 6000;  // hand-over after SIGTERM must beat it by far

std::string config_yaml(int upstream_port, const std::string& db) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " + db + ", flush_interval_ms: 20, config_poll_ms: 100, "
         "leader_lease_ms: " + std::to_string(kLeaseMs) + "}\n"
         "models:\n"
         "  - {name: a, provider: openai, endpoint: \"" + ep + "\"}\n"
         "  - {name: b, provider: openai, endpoint: \"" + ep + "\"}\n"
         "routes:\n"
         "  - name: chat\n"
         "    type: split\n"
         "    children: [{route: a, weight: 100}, {route: b, weight: 0}]\n"
         "    rollout: {candidate: b, steps: [10, 100], hold_s: 60, min_requests: 1000,\n"
         "              start: manual, gates: {max_success_drop: 0.1}}\n"
         "auth:\n"
         "  admin_token_env: TRIAGE_ADMIN_TOKEN\n";
}

HttpResponse admin(Gateway& gw, const std::string& method, const std::string& target,
                   const std::string& body = {}) {
  return http_request(gw.port(), method, target, body,
                      {{"authorization", std::string("Bearer ") + kAdminToken}}, Millis(10000));
}

json::object fleet(Gateway& gw) {
  const HttpResponse r = admin(gw, "GET", "/admin/fleet");
  EXPECT_EQ(r.status, 200) << r.body;
  const json::value v = r.json();
  return v.is_object() ? v.as_object() : json::object{};
}

bool is_leader(Gateway& gw) {
  const json::object f = fleet(gw);
  return f.contains("is_leader") && f.at("is_leader").as_bool();
}

double knob(Gateway& gw, const std::string& name) {
  const json::value v = admin(gw, "GET", "/admin/knobs").json();
  if (!v.is_object()) return -1;
  for (const json::value& k : v.at("data").as_array()) {
    if (k.at("route").as_string() == "chat" && k.at("knob").as_string() == name) {
      return k.at("value").to_number<double>();
    }
  }
  return -1;
}

// Everything the process logged (spdlog writes to stdout or stderr by level).
std::string logs(ChildProcess& p) {
  std::string out = p.stderr_text();
  for (const std::string& line : p.stdout_lines()) out += line + "\n";
  return out;
}

// Polls `ok` until it holds or `deadline` passes; how long it took.
std::optional<Millis> within(Millis deadline, const std::function<bool()>& ok) {
  const auto start = Clock::now();
  while (Clock::now() - start < deadline) {
    if (ok()) return std::chrono::duration_cast<Millis>(Clock::now() - start);
    std::this_thread::sleep_for(Millis(20));
  }
  return std::nullopt;
}

TEST(LeaderTest, OneLeaderKnobsFollowAndSigtermHandsOver) {
  Upstream up;
  ASSERT_GT(up.port(), 0) << "test upstream did not start";
  TempDir dir;
  write_file(dir.file("triage.yaml"), config_yaml(up.port(), dir.file("triage.db")));
  const std::map<std::string, std::string> env{{"TRIAGE_ADMIN_TOKEN", kAdminToken}};
  auto first = std::make_unique<Gateway>(dir.file("triage.yaml"), env);
  ASSERT_GT(first->port(), 0) << first->process().stderr_text();
  ASSERT_TRUE(within(Millis(5000), [&] { return is_leader(*first); }))
      << first->process().stderr_text();
  Gateway second(dir.file("triage.yaml"), env);
  ASSERT_GT(second.port(), 0) << second.process().stderr_text();

  // Exactly one leader, and both name it.
  const json::object f1 = fleet(*first);
  const json::object f2 = fleet(second);
  EXPECT_TRUE(f1.at("fleet").as_bool());
  EXPECT_TRUE(f1.at("is_leader").as_bool());
  EXPECT_EQ(f1.at("leader"), f1.at("replica"));
  EXPECT_NE(f1.at("replica"), f2.at("replica"));
  EXPECT_EQ(f1.at("config_version"), f2.at("config_version"));
  ASSERT_TRUE(within(Millis(5000), [&] { return fleet(second).at("leader") == f1.at("replica"); }));
  EXPECT_FALSE(is_leader(second));
  EXPECT_EQ(admin(second, "GET", "/admin/fleet", "").status, 200);
  EXPECT_EQ(http_request(second.port(), "GET", "/admin/fleet").status, 401) << "admin only";

  // A knob moved on the follower is served by the leader within the poll.
  const HttpResponse moved = admin(
      second, "PUT", "/admin/knobs",
      R"({"route": "chat", "knob": "children[1].weight", "value": 25, "reason": "fleet test"})");
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(knob(second, "children[1].weight"), 25);
  const auto followed = within(Millis(3000), [&] { return knob(*first, "children[1].weight") == 25; });
  ASSERT_TRUE(followed) << first->process().stderr_text();
  EXPECT_EQ(knob(*first, "children[0].weight"), 100) << "only the moved knob";

  // Rollout commands go to the leader.
  const HttpResponse refused =
      admin(second, "POST", "/admin/rollouts/start", R"({"route": "chat"})");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find(std::string(f1.at("replica").as_string())), std::string::npos)
      << refused.body;

  // SIGTERM: the leader releases the lease; the other takes it at its next renewal (ttl/3),
  // not after the ttl.
  const auto stopped_at = Clock::now();
  ASSERT_TRUE(first->process().terminate(Millis(10000)).has_value());
  const auto took = within(Millis(kLeaseMs), [&] { return is_leader(second); });
  ASSERT_TRUE(took) << second.process().stderr_text();
  EXPECT_LT(std::chrono::duration_cast<Millis>(Clock::now() - stopped_at).count(),
            kLeaseMs * 2 / 3)
      << "handed over by release, not by expiry";
  EXPECT_NE(logs(first->process()).find("released the lease"), std::string::npos)
      << logs(first->process());
  EXPECT_NE(logs(second.process()).find("now runs the controllers"), std::string::npos);
}

}  // namespace
}  // namespace triage::testing
