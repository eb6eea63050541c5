#include "common/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace triage {
namespace {

using ::testing::HasSubstr;

TEST(CsvTest, ParsesQuotedFieldsWithCommasQuotesAndNewlines) {
  CsvTable t = parse_csv(
      "a,b,c\n"
      "1,\"x, y\",\"say \"\"hi\"\"\"\n"
      "2,\"line one\n\nline three\",plain\n",
      "mem.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(*t.rows[0][1], "x, y");
  EXPECT_EQ(*t.rows[0][2], "say \"hi\"");
  EXPECT_EQ(*t.rows[1][1], "line one\n\nline three");
  EXPECT_EQ(*t.rows[1][2], "plain");
}

TEST(CsvTest, EmptyCellIsMissingNotZero) {
  CsvTable t = parse_csv("a,b,c\n0,,\"\"\n", "mem.csv");
  ASSERT_EQ(t.rows.size(), 1u);
  ASSERT_TRUE(t.rows[0][0].has_value());
  EXPECT_EQ(*t.rows[0][0], "0");
  EXPECT_FALSE(t.rows[0][1].has_value());  // ,, -> missing
  ASSERT_TRUE(t.rows[0][2].has_value());   // "" -> present, empty
  EXPECT_EQ(*t.rows[0][2], "");
}

TEST(CsvTest, TrailingEmptyCellAndNoFinalNewline) {
  CsvTable t = parse_csv("a,b\r\nx,\r\ny,z", "mem.csv");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(*t.rows[0][0], "x");
  EXPECT_FALSE(t.rows[0][1].has_value());
  EXPECT_EQ(*t.rows[1][1], "z");
}

TEST(CsvTest, KeepsSpacesAroundUnquotedFields) {
  CsvTable t = parse_csv("a,b\n  x ,y\n", "mem.csv");
  EXPECT_EQ(*t.rows[0][0], "  x ");
}

TEST(CsvTest, ColumnLookup) {
  CsvTable t = parse_csv("id,m|score,m|response\n", "mem.csv");
  EXPECT_EQ(t.column("m|score"), std::optional<std::size_t>(1));
  EXPECT_FALSE(t.column("missing").has_value());
  EXPECT_EQ(t.columns_list(), "id, m|score, m|response");
  EXPECT_TRUE(t.rows.empty());
}

TEST(CsvTest, RaggedRowNamesFileLineAndRecord) {
  try {
    (void)parse_csv("a,b,c\n1,2,3\n\"multi\nline\",5\n", "bad.csv");
    FAIL() << "expected CsvError";
  } catch (const CsvError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.csv:4"));
    EXPECT_THAT(e.what(), HasSubstr("record 3"));
    EXPECT_THAT(e.what(), HasSubstr("expected 3 fields"));
  }
}

TEST(CsvTest, UnclosedQuoteIsAnError) {
  try {
    (void)parse_csv("a,b\n1,\"never closed\n", "bad.csv");
    FAIL() << "expected CsvError";
  } catch (const CsvError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.csv"));
    EXPECT_THAT(e.what(), HasSubstr("not closed"));
  }
}

TEST(CsvTest, StrayQuoteIsAnError) {
  EXPECT_THROW((void)parse_csv("a,b\n1,\"x\"y\n", "bad.csv"), CsvError);
}

TEST(CsvTest, HeaderProblems) {
  EXPECT_THROW((void)parse_csv("", "empty.csv"), CsvError);
  EXPECT_THROW((void)parse_csv("a,,c\n", "h.csv"), CsvError);
  EXPECT_THROW((void)parse_csv("a,b,a\n", "h.csv"), CsvError);
}

TEST(CsvTest, ReadsFixtureFile) {
  CsvTable t = read_csv_file(std::string(TRIAGE_SOURCE_DIR) + "/tests/data/replay_tiny.csv");
  ASSERT_EQ(t.header.size(), 6u);
  ASSERT_EQ(t.rows.size(), 5u);
  auto resp = *t.column("strong_response");
  EXPECT_EQ(*t.rows[1][resp], "3 + 5 = 8.\n\nTherefore the answer is 8, done.");
  EXPECT_FALSE(t.rows[2][*t.column("strong_correct")].has_value());
  EXPECT_FALSE(t.rows[3][resp].has_value());
}

TEST(CsvTest, MissingFileNamesPath) {
  try {
    (void)read_csv_file("/nonexistent/x.csv");
    FAIL();
  } catch (const CsvError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/x.csv"));
  }
}

}  // namespace
}  // namespace triage
