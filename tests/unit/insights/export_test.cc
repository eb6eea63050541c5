// `triage export`: grade derivation, finetune JSONL and RouteLLM CSV from a real store, on
// SQLite and PostgreSQL; and the same rows give the same exports and the same router training
// pairs (`triage train router --from-store`) on both stores.
#include "insights/export.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>

#include "common/csv.h"
#include "core/review_flag.h"
#include "insights/store_pairs.h"
#include "support/store_backends.h"
#include "support/temp_dir.h"
#include "telemetry/review_db.h"
#include "telemetry/store_reader.h"

namespace triage::insights {
namespace {

TEST(DerivePairGrades, FromSufficientTierAndFromVerdicts) {
  int w = -1, s = -1;
  // tiers small(0) medium(1) large(2); pair small/large.
  ASSERT_TRUE(derive_pair_grades(0, "correct", 2, 0, 2, w, s));
  EXPECT_EQ(w, 1); EXPECT_EQ(s, 1);
  ASSERT_TRUE(derive_pair_grades(1, "incorrect", 0, 0, 2, w, s));
  EXPECT_EQ(w, 0); EXPECT_EQ(s, 1);
  ASSERT_TRUE(derive_pair_grades(2, "correct", 2, 0, 1, w, s));  // beyond the strong tier
  EXPECT_EQ(w, 0); EXPECT_EQ(s, 0);
  ASSERT_TRUE(derive_pair_grades(-1, "correct", 0, 0, 2, w, s));  // weak was right
  EXPECT_EQ(w, 1); EXPECT_EQ(s, 1);
  ASSERT_TRUE(derive_pair_grades(-1, "incorrect", 2, 0, 2, w, s));  // strong was wrong
  EXPECT_EQ(w, 0); EXPECT_EQ(s, 0);
  EXPECT_FALSE(derive_pair_grades(-1, "correct", 2, 0, 2, w, s));   // weak unknown
  EXPECT_FALSE(derive_pair_grades(-1, "incorrect", 0, 0, 2, w, s)); // strong unknown
  EXPECT_FALSE(derive_pair_grades(-1, "correct", -1, 0, 2, w, s));
}

TEST(LastUserText, StringAndPartsContent) {
  EXPECT_EQ(last_user_text(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"},)"
                           R"({"role":"user","content":[{"type":"text","text":"c"},{"type":"text","text":"d"}]}])"),
            "c\nd");
  EXPECT_EQ(last_user_text(R"([{"role":"system","content":"x"}])"), "");
  EXPECT_EQ(last_user_text("not json"), "");
}


// A reader of the store that may write labels and feedback (as `triage review` does).
std::unique_ptr<telemetry::StoreReader> open_for_review_writes(
    const telemetry::testing::BackendStore& backend) {
  telemetry::StoreReaderOptions writes;
  writes.review_writes = true;
  return backend.open_reader(writes);
}

// The stored traffic the exports read, written through the backend's real writer and the
// review API's writes: r0..r5 with payloads, r6 without; r0-r2 category "math", others "chat".
void fill_store(const telemetry::testing::BackendStore& backend) {
  {
    auto store = backend.open_writer(1000, 64, 3600000);
    for (int i = 0; i < 7; ++i) {
      core::Trace t;
      t.request_id = "req_" + std::to_string(i);
      t.time_ms = 1000 + i;
      t.category = i < 3 ? "math" : "chat";
      t.route = i % 3 == 0 ? "" : "auto";
      t.tier = i % 2 == 0 ? "small" : "large";
      t.model = t.tier + "-m";
      if (i != 6) {
        t.keep_payloads = true;
        t.prompt_json = R"([{"role":"developer","content":"be brief"},{"role":"user","content":"q)" +
                        std::to_string(i) + R"(, with \"quotes\", commas"}])";
        t.response_text = "a" + std::to_string(i);
      }
      store->consume(std::make_shared<const core::Trace>(std::move(t)));
    }
    store->close();
    ASSERT_EQ(store->written(), 7);
  }
  auto opened = open_for_review_writes(backend);
  ASSERT_TRUE(opened);
  telemetry::ReviewDb& db = *opened;
  ASSERT_TRUE(db.add_label({"req_0", "correct", "small", "", "r"}, 1).ok());
  ASSERT_TRUE(db.add_label({"req_1", "incorrect", "", "", "r"}, 2).ok());      // large wrong
  ASSERT_TRUE(db.add_label({"req_2", "incorrect", "large", "fixed 2", "r"}, 3).ok());
  ASSERT_TRUE(db.add_label({"req_3", "correct", "", "", "r"}, 4).ok());        // large right: weak unknown
  ASSERT_TRUE(db.add_label({"req_3", "correct", "medium", "", "r"}, 5).ok());  // latest wins
  ASSERT_TRUE(db.add_label({"req_6", "correct", "small", "", "r"}, 6).ok());   // no payload
  ASSERT_TRUE(db.add_feedback({"req_4", 1.0, "up", "", "", ""}, 7).ok());
  ASSERT_TRUE(db.add_feedback({"req_5", 0.0, "down", "user fix", "", ""}, 8).ok());
}

// Shadow candidates' derived traces (what `train router --from-store` also reads): req_1's
// small-tier run agreed with it; req_5's small-tier run was labelled.
void add_shadow_runs(const telemetry::testing::BackendStore& backend) {
  {
    auto store = backend.open_writer(1000, 64, 3600000);
    for (const char* parent : {"req_1", "req_5"}) {
      core::Trace t;
      t.request_id = std::string(parent) + "-s0";
      t.time_ms = 2000;
      t.category = "chat";
      t.route = "auto";
      t.tier = "small";
      t.model = "small-m";
      t.flags.push_back(core::ReviewFlag::kShadow);
      core::Span route;
      route.kind = core::SpanKind::kRoute;
      route.name = "auto";
      route.agrees = std::string(parent) == "req_1";
      t.spans.push_back(route);
      store->consume(std::make_shared<const core::Trace>(std::move(t)));
    }
    store->close();
    ASSERT_EQ(store->written(), 2);
  }
  auto opened = open_for_review_writes(backend);
  ASSERT_TRUE(opened);
  ASSERT_TRUE(opened->add_label({"req_5-s0", "incorrect", "", "", "r"}, 9).ok());
}

// The exports' expectations, on every backend.
class ExportTest : public ::testing::TestWithParam<telemetry::testing::Backend> {
 protected:
  void SetUp() override {
    TRIAGE_SKIP_UNLESS_BACKEND(GetParam());
    backend_ = std::make_unique<telemetry::testing::BackendStore>(GetParam());
    db_path_ = backend_->location();
    fill_store(*backend_);
  }

  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  std::unique_ptr<telemetry::testing::BackendStore> backend_;
  triage::testing::TempDir tmp_;  // the exports' output files
  std::string db_path_;           // what `--store` takes
};

TEST_P(ExportTest, FinetuneTakesApprovedAndCorrectedAnswers) {
  ExportFinetuneOptions o{db_path_, tmp_.file("ft.jsonl"), "", "correct"};
  ExportReport r = export_finetune(o);
  EXPECT_EQ(r.written, 3);  // req_0 (approved), req_2 (corrected), req_3 (approved)
  EXPECT_EQ(r.skipped_no_payload, 1);
  EXPECT_EQ(r.skipped_not_usable, 1);  // req_1
  auto l = lines(o.out_path);
  ASSERT_EQ(l.size(), 3u);
  auto first = boost::json::parse(l[0]);
  EXPECT_EQ(boost::json::serialize(first),
            R"({"messages":[{"role":"system","content":"be brief"},)"
            R"({"role":"user","content":"q0, with \"quotes\", commas"},)"
            R"({"role":"assistant","content":"a0"}]})");
  EXPECT_EQ(boost::json::parse(l[1]).at("messages").as_array().back().at("content"), "fixed 2");

  o.category = "math";
  EXPECT_EQ(export_finetune(o).written, 2);
  o.category = "";
  o.min_verdict = "feedback";
  r = export_finetune(o);
  EXPECT_EQ(r.written, 5);  // + req_4 (thumbs up: its answer), req_5 (user's correction)
  l = lines(o.out_path);
  EXPECT_EQ(boost::json::parse(l[3]).at("messages").as_array().back().at("content"), "a4");
  EXPECT_EQ(boost::json::parse(l[4]).at("messages").as_array().back().at("content"), "user fix");
  o.min_verdict = "nonsense";
  EXPECT_THROW(export_finetune(o), std::runtime_error);
}

TEST_P(ExportTest, LabelsAreARouteLlmCsvTheTrainerReads) {
  ExportLabelsOptions o;
  o.store_path = db_path_;
  o.out_path = tmp_.file("labels.csv");
  ExportReport r = export_labels(o);
  EXPECT_EQ(r.written, 4);
  EXPECT_EQ(r.skipped_no_payload, 1);
  CsvTable t = read_csv_file(o.out_path);  // the reader `triage train router` uses
  ASSERT_EQ(t.rows.size(), 4u);
  auto cell = [&](size_t row, const char* col) { return *t.rows[row][*t.column(col)]; };
  EXPECT_EQ(cell(0, "id"), "req_0");
  EXPECT_EQ(cell(0, "prompt"), "q0, with \"quotes\", commas");
  EXPECT_EQ(cell(0, "weak_correct"), "1");
  EXPECT_EQ(cell(0, "strong_correct"), "1");
  EXPECT_EQ(cell(1, "id"), "req_1");  // large answered wrong: both 0
  EXPECT_EQ(cell(1, "weak_correct"), "0");
  EXPECT_EQ(cell(1, "strong_correct"), "0");
  EXPECT_EQ(cell(2, "id"), "req_2");  // large suffices
  EXPECT_EQ(cell(2, "weak_correct"), "0");
  EXPECT_EQ(cell(2, "strong_correct"), "1");
  EXPECT_EQ(cell(3, "id"), "req_3");  // latest label: medium suffices
  EXPECT_EQ(cell(3, "weak_correct"), "0");
  EXPECT_EQ(cell(3, "strong_correct"), "1");
  EXPECT_EQ(cell(3, "category"), "chat");

  o.weak_tier = "medium";
  export_labels(o);
  t = read_csv_file(o.out_path);
  EXPECT_EQ(*t.rows[3][*t.column("weak_correct")], "1");
  o.weak_tier = "huge";
  EXPECT_THROW(export_labels(o), std::runtime_error);
}

TRIAGE_ON_EVERY_BACKEND(ExportTest);

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string pairs_text(const PairBuild& b) {
  std::string s = "evidence " + std::to_string(b.evidence) + "\n";
  for (const RouterPair& p : b.pairs) {
    s += p.id + "|" + p.prompt + "|" + p.category + "|" + std::to_string(p.weak_correct) + "|" +
         std::to_string(p.strong_correct) + "|" + p.rule + "\n";
  }
  for (const auto& [rule, n] : b.rules) s += "rule " + rule + " " + std::to_string(n) + "\n";
  for (const auto& [why, n] : b.skipped) s += "skip " + why + " " + std::to_string(n) + "\n";
  return s;
}

// The same rows in a SQLite store and a PostgreSQL store: byte-identical exports (every
// option that changes the query) and identical router training pairs.
TEST(ExportsOnBothStores, PostgresGivesSqlitesExportsAndTrainingPairs) {
  TRIAGE_SKIP_UNLESS_BACKEND(telemetry::testing::Backend::kPostgres);
  const triage::testing::TempDir tmp;
  const std::string& dir = tmp.path();
  std::map<telemetry::testing::Backend, std::vector<std::string>> outputs;
  for (auto b : {telemetry::testing::Backend::kSqlite, telemetry::testing::Backend::kPostgres}) {
    telemetry::testing::BackendStore backend(b);
    fill_store(backend);
    add_shadow_runs(backend);
    std::vector<std::string>& out = outputs[b];
    for (const char* category : {"", "math"}) {
      for (const char* verdict : {"correct", "feedback"}) {
        ExportFinetuneOptions f{backend.location(), dir + "/ft.jsonl", category, verdict};
        const ExportReport r = export_finetune(f);
        out.push_back(file_text(f.out_path) + "written " + std::to_string(r.written) + " " +
                      std::to_string(r.skipped_no_payload) + " " +
                      std::to_string(r.skipped_not_usable));
      }
      ExportLabelsOptions l;
      l.store_path = backend.location();
      l.out_path = dir + "/labels.csv";
      l.category = category;
      const ExportReport r = export_labels(l);
      out.push_back(file_text(l.out_path) + "written " + std::to_string(r.written) + " " +
                    std::to_string(r.skipped_no_payload) + " " +
                    std::to_string(r.skipped_not_usable));
    }
    StorePairsOptions po;
    po.store_path = backend.location();
    po.rules = {{"small", "medium", "large"}, "small", "large"};
    out.push_back(pairs_text(read_router_pairs(po)));
    po.route = "auto";
    out.push_back(pairs_text(read_router_pairs(po)));
    po.route = "";
    po.since_ms = 1003;
    out.push_back(pairs_text(read_router_pairs(po)));
  }
  const auto& sqlite = outputs[telemetry::testing::Backend::kSqlite];
  const auto& postgres = outputs[telemetry::testing::Backend::kPostgres];
  ASSERT_EQ(sqlite.size(), postgres.size());
  for (std::size_t i = 0; i < sqlite.size(); ++i) EXPECT_EQ(postgres[i], sqlite[i]) << "output " << i;
  // Not vacuous: the shadow runs made pairs, and the route filter dropped some.
  EXPECT_NE(sqlite[6].find("weak_shadow_agreed"), std::string::npos) << sqlite[6];
  EXPECT_NE(sqlite[6].find("weak_shadow_labelled"), std::string::npos) << sqlite[6];
  EXPECT_NE(sqlite[7], sqlite[6]);
  EXPECT_NE(sqlite[8], sqlite[6]);
}

}  // namespace
}  // namespace triage::insights
