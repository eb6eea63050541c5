// The dataset `triage eval` reads: its format (intent lines, multi-model CSV, graded CSV), its
// rows, its hash, and the errors that name the file.
#include "datasets/eval_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "datasets/dataset_rows.h"

namespace triage::datasets {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class EvalDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-eval-data-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::trunc | std::ios::binary) << text;
    return p;
  }

  fs::path dir_;
};

TEST_F(EvalDataTest, IntentLinesKeepValidRowsAndCountTheOthers) {
  const std::string p = write("val.jsonl",
                              "\n  {\"text\": \"my balance\", \"intent\": \"balance\"}\n"
                              "{\"text\": \"no intent\"}\n"
                              "not json\n"
                              "{\"text\": \"x\", \"intent\": \"\"}\n"
                              "\n"
                              "{\"text\": \"a dragon poem\", \"intent\": \"oos\", \"extra\": 1}\n");
  const EvalData d = read_eval_data(p);
  EXPECT_EQ(d.format, DatasetFormat::kIntentLines);
  EXPECT_EQ(d.path, p);
  EXPECT_EQ(d.sha256, file_sha256(p));
  ASSERT_EQ(d.intents.size(), 2u);
  EXPECT_EQ(d.intents[0].text, "my balance");
  EXPECT_EQ(d.intents[0].intent, "balance");
  EXPECT_EQ(d.intents[1].intent, "oos");
  EXPECT_EQ(d.invalid_intent_rows, 3);
  EXPECT_TRUE(d.table.rows.empty());
}

TEST_F(EvalDataTest, ScoreColumnsMakeMultiModelDataOtherCsvIsGraded) {
  const EvalData rb = read_eval_data(
      write("rb.csv", "id,prompt,a|score,a|cost,b|score\nr1,q,1,0.1,0\n"));
  EXPECT_EQ(rb.format, DatasetFormat::kMultiModel);
  ASSERT_EQ(rb.table.rows.size(), 1u);
  EXPECT_EQ(routerbench_models(rb.table.header), (std::vector<std::string>{"a", "b"}));

  const EvalData pairs = read_eval_data(
      write("pairs.csv", "prompt,weak_correct,strong_correct,note\nq,0,1,\"x|score\"\n"));
  EXPECT_EQ(pairs.format, DatasetFormat::kGraded);  // "|score" in a cell is no column
  EXPECT_EQ(pairs.table.header.size(), 4u);
  EXPECT_TRUE(pairs.intents.empty());
  // A bare "|score" names no model.
  EXPECT_TRUE(routerbench_models({"prompt", "|score"}).empty());
}

TEST_F(EvalDataTest, ErrorsNameTheFile) {
  const std::string missing = (dir_ / "missing.csv").string();
  try {
    read_eval_data(missing);
    FAIL() << "a missing file was read";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "dataset " + missing + " does not exist");
  }
  const std::string empty = write("empty.jsonl", "{\"text\": \"no intent\"}\n");
  try {
    read_eval_data(empty);
    FAIL() << "intent lines without a valid row were read";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), empty + ": no rows with a text and an intent");
  }
  EXPECT_THAT(
      [&] {
        try {
          read_eval_data(write("ragged.csv", "a,b\n1\n"));
        } catch (const CsvError& e) {
          return std::string(e.what());
        }
        return std::string("no error");
      }(),
      HasSubstr("ragged.csv"));
}

}  // namespace
}  // namespace triage::datasets
