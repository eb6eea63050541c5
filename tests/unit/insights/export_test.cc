// `triage export`: grade derivation, finetune JSONL and RouteLLM CSV from a real store.
#include "insights/export.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/csv.h"
#include "telemetry/review_db.h"
#include "telemetry/store_reader.h"
#include "telemetry/sqlite_store.h"

namespace triage::insights {
namespace {

namespace fs = std::filesystem;

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

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "triage-export-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/triage.db";
    telemetry::SqliteStore store({db_path_, 1000, 64, 3600000});
    // r0..r5 with payloads, r6 without; r0-r2 category "math", others "chat".
    for (int i = 0; i < 7; ++i) {
      core::Trace t;
      t.request_id = "req_" + std::to_string(i);
      t.time_ms = 1000 + i;
      t.category = i < 3 ? "math" : "chat";
      t.tier = i % 2 == 0 ? "small" : "large";
      t.model = t.tier + "-m";
      if (i != 6) {
        t.keep_payloads = true;
        t.prompt_json = R"([{"role":"developer","content":"be brief"},{"role":"user","content":"q)" +
                        std::to_string(i) + R"(, with \"quotes\", commas"}])";
        t.response_text = "a" + std::to_string(i);
      }
      store.consume(std::make_shared<const core::Trace>(std::move(t)));
    }
    store.close();
    telemetry::StoreReaderOptions writes;
    writes.review_writes = true;
    auto opened = telemetry::open_store_reader(db_path_, writes);
    ASSERT_TRUE(opened) << opened.error().message;
    telemetry::ReviewDb& db = **opened;
    ASSERT_TRUE(db.add_label({"req_0", "correct", "small", "", "r"}, 1).ok());
    ASSERT_TRUE(db.add_label({"req_1", "incorrect", "", "", "r"}, 2).ok());      // large wrong
    ASSERT_TRUE(db.add_label({"req_2", "incorrect", "large", "fixed 2", "r"}, 3).ok());
    ASSERT_TRUE(db.add_label({"req_3", "correct", "", "", "r"}, 4).ok());        // large right: weak unknown
    ASSERT_TRUE(db.add_label({"req_3", "correct", "medium", "", "r"}, 5).ok());  // latest wins
    ASSERT_TRUE(db.add_label({"req_6", "correct", "small", "", "r"}, 6).ok());   // no payload
    ASSERT_TRUE(db.add_feedback({"req_4", 1.0, "up", "", "", ""}, 7).ok());
    ASSERT_TRUE(db.add_feedback({"req_5", 0.0, "down", "user fix", "", ""}, 8).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  std::string dir_, db_path_;
};

TEST_F(ExportTest, FinetuneTakesApprovedAndCorrectedAnswers) {
  ExportFinetuneOptions o{db_path_, dir_ + "/ft.jsonl", "", "correct"};
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

TEST_F(ExportTest, LabelsAreARouteLlmCsvTheTrainerReads) {
  ExportLabelsOptions o;
  o.store_path = db_path_;
  o.out_path = dir_ + "/labels.csv";
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

}  // namespace
}  // namespace triage::insights
