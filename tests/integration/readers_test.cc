// The offline readers' command lines on both stores: the same rows written through the real
// SQLite and PostgreSQL writers give byte-identical `triage export finetune`, `triage export
// labels` and `triage train router --from-store` outputs (the training rows, hence the same
// router version) from the real binary, with `--store`/`--from-store` a file or a
// postgres:// URI (docs/store.md).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/trace.h"
#include "harness.h"
#include "support/store_backends.h"
#include "telemetry/review_db.h"

namespace triage::testing {
namespace {

using telemetry::testing::Backend;
using telemetry::testing::BackendStore;
namespace json = boost::json;

constexpr int kRequests = 40;

// "algebra" prompts need the large tier, "history" ones do not.
std::string prompt(int i) {
  return i % 2 == 0 ? "solve the equation x plus " + std::to_string(i) + " equals nine"
                    : "which king reigned in the year " + std::to_string(1000 + i);
}

// kRequests requests through `auto` with payloads, every one labelled or given feedback, and
// a shadow run of each large-tier answer on the small tier, labelled.
void fill(const BackendStore& backend) {
  {
    auto store = backend.open_writer(1000, 64, 3600000);
    for (int i = 0; i < kRequests; ++i) {
      for (int shadow = 0; shadow < (i % 2 == 0 ? 2 : 1); ++shadow) {
        core::Trace t;
        t.request_id = "req_" + std::to_string(100 + i) + (shadow ? "-s0" : "");
        t.time_ms = 1'700'000'000'000 + 1000 * i + shadow;
        t.category = i % 2 == 0 ? "algebra" : "history";
        t.route = "auto";
        t.tier = i % 2 == 0 && !shadow ? "large" : "small";
        t.model = "up-" + t.tier;
        if (shadow) t.flags.push_back(core::ReviewFlag::kShadow);
        t.keep_payloads = true;
        t.prompt_json = json::serialize(json::array{
            json::object{{"role", "system"}, {"content", "be brief"}},
            json::object{{"role", "user"}, {"content", prompt(i)}}});
        t.response_text = "answer " + std::to_string(i) + (shadow ? " (small)" : "");
        store->consume(std::make_shared<const core::Trace>(std::move(t)));
      }
    }
    store->close();
    ASSERT_EQ(store->written(), kRequests + kRequests / 2);
  }
  telemetry::StoreReaderOptions writes;
  writes.review_writes = true;
  auto reader = backend.open_reader(writes);
  ASSERT_TRUE(reader);
  int64_t ts = 1;
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = "req_" + std::to_string(100 + i);
    if (i % 2 == 0) {
      ASSERT_TRUE(reader->add_label({id, "correct", "", i % 4 == 0 ? "fixed" : "", "r"}, ts++).ok());
      ASSERT_TRUE(reader->add_label({id + "-s0", "incorrect", "", "", "r"}, ts++).ok());
    } else if (i % 3 == 0) {
      ASSERT_TRUE(reader->add_feedback({id, 1.0, "up", "", "", ""}, ts++).ok());
    } else {
      ASSERT_TRUE(reader->add_label({id, "correct", "small", "", "r"}, ts++).ok());
    }
  }
}

// What each command wrote, per backend.
struct Outputs {
  std::string finetune, labels, training_rows, router_version;
};

Outputs run_readers(const BackendStore& backend, const TempDir& dir, const std::string& tag) {
  Outputs o;
  const std::string ft = dir.file(tag + ".jsonl"), labels = dir.file(tag + ".csv"),
                    router = dir.file(tag + ".bin");
  CliRun r = run_cli({"export", "finetune", "--store", backend.location(), "--out", ft,
                      "--min-verdict", "feedback"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  o.finetune = read_file(ft);
  r = run_cli({"export", "labels", "--store", backend.location(), "--out", labels, "--tiers",
               "small,large"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  o.labels = read_file(labels);
  r = run_cli({"train", "router", "--from-store", backend.location(), "--route", "auto",
               "--tiers", "small,large", "--min-labels", "20", "--folds", "3", "--out", router});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(std::to_string(kRequests) + " training pairs"), std::string::npos) << r.out;
  o.training_rows = read_file(router + ".rows.csv");
  o.router_version = json::value_to<std::string>(
      json::parse(read_file(router + ".json")).at("router").at("version"));
  return o;
}

TEST(OfflineReaders, PostgresStoreGivesSqlitesExportsAndRouter) {
  TRIAGE_SKIP_UNLESS_BACKEND(Backend::kPostgres);
  TempDir dir;
  std::map<Backend, Outputs> out;
  for (Backend b : {Backend::kSqlite, Backend::kPostgres}) {
    BackendStore backend(b);
    fill(backend);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    out[b] = run_readers(backend, dir, b == Backend::kSqlite ? "sqlite" : "postgres");
  }
  const Outputs& sqlite = out[Backend::kSqlite];
  const Outputs& pg = out[Backend::kPostgres];
  // Not vacuous: every kind of row made it into each output.
  EXPECT_NE(sqlite.finetune.find("fixed"), std::string::npos) << sqlite.finetune;
  EXPECT_NE(sqlite.finetune.find("answer 3\""), std::string::npos) << "feedback-only request";
  EXPECT_NE(sqlite.labels.find(prompt(1)), std::string::npos) << sqlite.labels;
  EXPECT_NE(sqlite.training_rows.find("weak_shadow_labelled"), std::string::npos)
      << sqlite.training_rows;
  EXPECT_EQ(pg.finetune, sqlite.finetune);
  EXPECT_EQ(pg.labels, sqlite.labels);
  EXPECT_EQ(pg.training_rows, sqlite.training_rows);
  EXPECT_EQ(pg.router_version, sqlite.router_version);
}

// A password written into the postgres:// URI (rather than PGPASSWORD or password_env) is never
// printed by the offline commands: the test server trusts loopback, so any password connects.
TEST(OfflineReaders, APasswordInTheStoreUriIsNeverPrinted) {
  TRIAGE_SKIP_UNLESS_BACKEND(Backend::kPostgres);
  BackendStore backend(Backend::kPostgres);
  fill(backend);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  constexpr char kPassword[] = "pw-SECRET-5b1e93";
  std::string url = backend.location();
  const std::size_t at = url.find('@');
  ASSERT_NE(at, std::string::npos) << url;
  url.insert(at, std::string(":") + kPassword);
  TempDir dir;
  const std::vector<std::vector<std::string>> commands = {
      {"train", "router", "--from-store", url, "--route", "auto", "--tiers", "small,large",
       "--min-labels", "100000", "--out", dir.file("r.bin")},
      {"report", "--store", url},
      {"analyze", "--store", url}};
  for (const auto& args : commands) {
    const CliRun r = run_cli(args);
    EXPECT_EQ((r.out + r.err).find(kPassword), std::string::npos) << args[0] << ": " << r.out
                                                                  << r.err;
    EXPECT_NE((r.out + r.err).find("127.0.0.1"), std::string::npos)
        << args[0] << " names the store: " << r.out << r.err;
  }
}

}  // namespace
}  // namespace triage::testing
