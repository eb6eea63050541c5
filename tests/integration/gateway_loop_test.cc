// The loop closes (docs/loop.md): a gateway with a store serves a trained router, labels are
// posted through the review API, and `triage train router --from-store` (a real process)
// builds a new router version from them. Every decision in the store names the router version
// that made it.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include "core/trace.h"
#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-LOOP-41f0";
const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};

// "algebra" prompts need the strong model (the weak one fails them), "history" ones do not.
std::string prompt(int i) {
  return i % 2 == 0 ? "solve the equation x plus " + std::to_string(i) + " equals nine"
                    : "which king reigned in the year " + std::to_string(1000 + i);
}

std::string config_yaml(int upstream_port, const std::string& db_path, const std::string& router) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& tier, const std::string& price) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: gpt-test, tier: " + tier +
           ", prices: {input: " + price + ", output: " + price + "}}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " + db_path + ", keep_payloads: true, flush_interval_ms: 20}\n"
         "tiers: [small, large]\n"
         "models:\n" + model("up-small", "small", "0.1") + model("up-large", "large", "10") +
         "routes:\n"
         "  - {name: router, type: threshold, scorer: " + router +
         ", weak: up-small, strong: up-large, threshold: 0.5}\n"
         "  - {name: auto, type: shadow, primary: router, candidates: [up-small]}\n";
}

json::object metadata_router(const std::string& model) {
  return json::parse(read_file(model + ".json")).at("router").as_object();
}

class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    // The day-1 router: 120 recorded pairs, trained with a given version.
    std::string csv = "id,subject,prompt,weak_correct,strong_correct\n";
    for (int i = 0; i < 120; ++i) {
      // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on the chained operator+.
      csv += 'q';
      csv += std::to_string(i);
      csv += i % 2 == 0 ? ",algebra," : ",history,";
      csv += prompt(i);
      csv += i % 2 == 0 ? ",0,1\n" : ",1,1\n";
    }
    write_file(dir_.file("initial.csv"), csv);
    const CliRun train = run_cli({"train", "router", "--dataset", dir_.file("initial.csv"),
                                  "--out", dir_.file("v1.bin"), "--folds", "3", "--version",
                                  "v-one"});
    ASSERT_EQ(train.exit_code, 0) << train.out << train.err;
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path(), dir_.file("v1.bin")));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string db_path() const { return dir_.file("triage.db"); }

  // Sends prompt(i) to `auto`; returns {request id, tier that answered}.
  std::pair<std::string, std::string> ask(int i) {
    json::object body{{"model", "auto"},
                      {"messages", json::array{json::object{{"role", "user"}, {"content", prompt(i)}}}}};
    auto r = http_request(gw_->port(), "POST", "/v1/chat/completions", json::serialize(body), kJson);
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    return {r.header("x-request-id"), std::string(r.json().at("triage").at("tier").as_string())};
  }
  // A shadow's row ("<id>-s0") is stored when its own upstream call ends, after the primary's
  // answer: the server waits about half a second for a row it does not find, so a shadow's 404
  // is tried again here, as a reviewer's tool would, for up to 10 s. A primary's row must be
  // found at the first try (the server flushes the store for it).
  void label(const std::string& id, bool correct, const std::string& sufficient = {}) {
    std::string body = std::string(R"({"verdict":")") + (correct ? "correct" : "incorrect") + "\"";
    if (!sufficient.empty()) body += R"(,"sufficient_tier":")" + sufficient + "\"";
    const bool shadow = core::shadow_parent_id(id).has_value();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    HttpResponse r = http_request(gw_->port(), "POST", "/v1/review/" + id + "/label",
                                  body + "}", kJson, Millis(10000));
    while (shadow && r.status == 404 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      r = http_request(gw_->port(), "POST", "/v1/review/" + id + "/label", body + "}", kJson,
                       Millis(10000));
    }
    ASSERT_EQ(r.status, 200) << id << ": " << r.body;
  }
  std::vector<std::string> column(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::vector<std::string> out;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
      auto* p = sqlite3_column_text(s, 0);
      out.push_back(p ? reinterpret_cast<const char*>(p) : "<null>");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(LoopTest, LabelledTrafficTrainsANewVersion) {
  // 40 requests, labelled as a reviewer would: the answer given, with the sufficient tier when
  // the small model was wrong; where the large model answered, the small model's shadow answer
  // ("<id>-s0") is labelled too, which is what says whether the small tier would have done.
  constexpr int kRequests = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kRequests; ++i) {
    const auto [id, tier] = ask(i);
    ASSERT_FALSE(id.empty());
    ids.push_back(id);
    const bool weak_right = i % 2 == 1;
    if (tier == "small") {
      label(id, weak_right, weak_right ? "" : "large");
    } else {
      label(id, true);
      label(id + "-s0", weak_right);
    }
  }

  // Every decision of the threshold route names the version that made it.
  const std::vector<std::string> versions = column(
      "SELECT json_extract(value, '$.router_version') FROM requests, json_each(requests.spans) "
      "WHERE json_extract(value, '$.kind') = 'route' AND json_extract(value, '$.name') = 'router'");
  ASSERT_EQ(versions.size(), static_cast<size_t>(kRequests));
  for (const std::string& v : versions) EXPECT_EQ(v, "v-one");

  // Too few labels: a clear refusal, and no router file.
  const CliRun refused =
      run_cli({"train", "router", "--from-store", db_path(), "--route", "auto", "--tiers",
               "small,large", "--min-labels", "100", "--out", dir_.file("v2.bin")});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("too few labels in " + db_path() + ": 40 labelled prompts give a "
                             "training pair, --min-labels is 100"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("v2.bin")));

  const CliRun trained =
      run_cli({"train", "router", "--from-store", db_path(), "--route", "auto", "--tiers",
               "small,large", "--min-labels", "20", "--folds", "3", "--compare",
               dir_.file("v1.bin"), "--out", dir_.file("v2.bin")});
  ASSERT_EQ(trained.exit_code, 0) << trained.out << trained.err;
  EXPECT_NE(trained.out.find("40 training pairs"), std::string::npos) << trained.out;
  const json::object router = metadata_router(dir_.file("v2.bin"));
  const std::string version(router.at("version").as_string());
  EXPECT_TRUE(std::regex_match(version, std::regex("r-[0-9a-f]{8}"))) << version;
  EXPECT_EQ(version.substr(2), std::string(router.at("data_file_sha256").as_string()).substr(0, 8));
  // Its rows are exactly the labelled prompts (one per primary request), each under an id
  // made from its prompt, so the same labels give the same version again.
  EXPECT_EQ(router.at("n_fit").as_int64() + router.at("n_test").as_int64(), kRequests);
  const std::string rows = read_file(dir_.file("v2.bin.rows.csv"));
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_NE(rows.find(prompt(i)), std::string::npos) << prompt(i);
  }
  EXPECT_EQ(rows.find("req_"), std::string::npos) << "no request id: the hash is the version";
  std::istringstream lines(rows);
  std::string line, previous_prompt;
  std::getline(lines, line);  // the header
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    ASSERT_TRUE(std::regex_search(line, std::regex("^p-[0-9a-f]{16},"))) << line;
    const std::string prompt_text = line.substr(19, line.find(',', 19) - 19);
    EXPECT_LE(previous_prompt, prompt_text) << "rows in prompt order: the same file every run";
    previous_prompt = prompt_text;
  }
  EXPECT_EQ(n, kRequests);
  // The comparison names both versions.
  EXPECT_NE(trained.out.find("serving  v-one"), std::string::npos) << trained.out;
  EXPECT_NE(trained.out.find("new      " + version), std::string::npos) << trained.out;
}

}  // namespace
}  // namespace triage::testing
