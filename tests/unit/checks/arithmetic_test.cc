#include "checks/arithmetic.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/csv.h"

namespace triage::checks {
namespace {

std::vector<ml::ArithmeticStep> steps(std::string_view text) { return ml::find_arithmetic(text); }

routes::Verdict judge(const std::string& text, ArithmeticOptions o = {}) {
  core::Completion c;
  c.content = text;
  return ArithmeticCheck(o).evaluate(core::ChatRequest{}, c);
}

TEST(Arithmetic, AcceptsCorrectSteps) {
  for (const char* text : {
           "16 - 3 = 13",
           "2 * 4.5 = 9",
           "So in total, it takes 2 + 1/2 = 5/2 = <<5/2=2.5>>2.5 bolts.",
           "$80,000 + $50,000 = $130,000",
           "3 x 4 = 12 and 12 × 2 = 24 and 24 ÷ 8 = 3 and 5 − 2 = 3",
           "(3 + 4) * 2 = 14",
           "150% * 50,000 = 75,000",
           "30/120 * 100 = 25%",
           "100% - 20% = 80%",
           "7 / 3 = 2.33",
           "15 / 2 = 8 (rounded up)",
           "2^10 = 1024 and 2**3 = 8",
           "-3 + 5 = 2",
           "3 * 4 = 12 + 5 = 17",
           "12.8 / (1 - 3/5) = 12.8 / 2/5 = 32",  // a tight "2/5" is a fraction
           "$1000 \\* 0.8 = $800",                 // Markdown-escaped "*"
           "20 * 13.33 = 266.66",                  // 13.33 stands for 13.325..13.335
           "0.33 - 0.2 = 0.13",
       }) {
    auto s = steps(text);
    ASSERT_FALSE(s.empty()) << text;
    for (const auto& st : s) EXPECT_TRUE(st.ok) << text << " -> " << st.text;
  }
}

TEST(Arithmetic, CatchesAWrongStepAndQuotesIt) {
  auto v = judge("First 16 - 3 = 12 eggs.\nThen 12 * 2 = 24 dollars.");
  EXPECT_FALSE(v.pass);
  EXPECT_NE(v.reason.find("'16 - 3 = 12'"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("left side is 13"), std::string::npos) << v.reason;
  EXPECT_DOUBLE_EQ(v.score, 0.5);

  EXPECT_FALSE(judge("$80,000 + $50,000 = $120,000").pass);
  EXPECT_FALSE(judge("<<5/2=3.5>>").pass);
  EXPECT_FALSE(judge("2 * 4.5 = 8").pass);
  EXPECT_FALSE(judge("(3 + 4) * 2 = 11").pass);
  EXPECT_FALSE(judge("7 / 3 = 2.4").pass);
  EXPECT_FALSE(judge("5 x 6 = 35").pass);
}

TEST(Arithmetic, LeavesProseAndAssignmentsAlone) {
  for (const char* text : {
           "x = 5",
           "Let the price be p = 20.",
           "3 days * 2 = 6 trips",      // the expression starts in the words: not checked
           "He sold 20 apples - 5 = 15",  // same
           "Step 1: 5 + 3 = 8.",         // list numbering is not an operand
           "1) 5 + 3 = 8",
           "if a >= 3 then b <= 4",
           "The ratio 3:4 = 0.75",
           "10 / 0 = undefined",
       }) {
    auto v = judge(text);
    EXPECT_TRUE(v.pass) << text << ": " << v.reason;
  }
  EXPECT_EQ(steps("Step 1: 5 + 3 = 8.").size(), 1u);
  EXPECT_EQ(steps("1) 5 + 3 = 8").size(), 1u);
  EXPECT_TRUE(steps("x = 5").empty());
}

TEST(Arithmetic, OptionsBoundWrongAndMinimumSteps) {
  ArithmeticOptions lenient;
  lenient.max_wrong = 1;
  EXPECT_TRUE(judge("16 - 3 = 12, 2 + 2 = 4", lenient).pass);
  ArithmeticOptions needs;
  needs.min_steps = 1;
  auto v = judge("The answer is 42.", needs);
  EXPECT_FALSE(v.pass);
  EXPECT_NE(v.reason.find("only 0 arithmetic steps"), std::string::npos);
  EXPECT_TRUE(judge("The answer is 42.").pass);
}

// Evaluation on real model answers: the weak model's GSM8K responses, graded by RouteLLM.
// A wrong weak answer often has a slipped computation; a right one rarely has one.
// Measured: 54 of 329 wrong answers caught (16.4%), 3 of 618 right ones flagged (0.5%; all
// three do contain a real arithmetic slip). TRIAGE_DUMP=1 lists every flagged step.
TEST(Arithmetic, Gsm8kWeakResponsesCatchRateAndFalseAlarms) {
  const CsvTable t = read_csv_file(std::string(TRIAGE_SOURCE_DIR) + "/data/routellm/gsm8k.csv");
  const size_t resp = *t.column("weak_response");
  const size_t grade = *t.column("weak_correct");
  int wrong = 0, caught = 0, right = 0, alarms = 0, with_steps = 0, skipped = 0;
  for (const auto& row : t.rows) {
    if (!row[resp] || !row[grade]) {
      ++skipped;
      continue;
    }
    const bool correct = *row[grade] == "1";
    const auto s = ml::find_arithmetic(*row[resp]);
    bool flagged = false;
    for (const auto& st : s) flagged = flagged || !st.ok;
    with_steps += s.empty() ? 0 : 1;
    if (std::getenv("TRIAGE_DUMP") && flagged) {
      for (const auto& st : s) {
        if (!st.ok) std::printf("%s | %s | %g vs %g\n", correct ? "ALARM" : "caught", st.text.c_str(), st.computed, st.stated);
      }
    }
    if (correct) {
      ++right;
      alarms += flagged ? 1 : 0;
    } else {
      ++wrong;
      caught += flagged ? 1 : 0;
    }
  }
  const double catch_rate = static_cast<double>(caught) / wrong;
  const double alarm_rate = static_cast<double>(alarms) / right;
  std::printf("gsm8k weak answers: %d wrong, %d caught (%.1f%%); %d right, %d false alarms "
              "(%.1f%%); %d with checkable steps; %d rows skipped\n",
              wrong, caught, 100 * catch_rate, right, alarms, 100 * alarm_rate, with_steps,
              skipped);
  ASSERT_GT(wrong, 100);
  ASSERT_GT(right, 100);
  EXPECT_GT(catch_rate, 0.12);   // it catches a real share of the wrong answers...
  EXPECT_LT(alarm_rate, 0.02);   // ...and rarely rejects a right one
  EXPECT_GT(catch_rate, 3 * alarm_rate);
}

}  // namespace
}  // namespace triage::checks

namespace triage::ml {
namespace {

// The numbers of a step are read without strtod where the result is provably the same: it
// must be, bit for bit, on numerals of every length and decimal count, inside the fast path's
// bounds (mantissa below 2^53, at most 22 decimals) and past them.
TEST(Arithmetic, NumeralsReadAsStrtodReadsThem) {
  std::mt19937_64 rng(20261207);
  const std::vector<std::string> fixed = {"0", "7", "0.5", "000012", "9007199254740992",
                                          "9007199254740993", "12345678901234567890",
                                          "0.1", "0.3", "1.15", "2.675", "100000",
                                          "0.0000000000000000000001", "3.14159265358979323846"};
  for (const std::string& n : fixed) {
    ASSERT_EQ(detail::numeral_value(n), std::strtod(n.c_str(), nullptr)) << n;
  }
  for (int i = 0; i < 200000; ++i) {
    std::string n;
    const int digits = 1 + static_cast<int>(rng() % 26);
    const int point = static_cast<int>(rng() % (digits + 2)) - 1;  // -1 or past the end: none
    for (int d = 0; d < digits; ++d) {
      if (d == point && d > 0) n += '.';
      n += static_cast<char>('0' + rng() % 10);
    }
    const double fast = detail::numeral_value(n);
    const double reference = std::strtod(n.c_str(), nullptr);
    ASSERT_EQ(std::memcmp(&fast, &reference, sizeof fast), 0) << n;
  }
}

}  // namespace
}  // namespace triage::ml
