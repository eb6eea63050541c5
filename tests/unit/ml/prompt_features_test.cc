#include "ml/prompt_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/csv.h"

namespace triage::ml {
namespace {

constexpr double kTolerance = 1e-9;

struct ReferenceCase {
  const char* label;
  const char* prompt;
  std::array<double, kPromptFeatureCount> expected;
};

// Expected values computed by the research reference implementation (feats.py, function
// feats(), printed with %.17g; 'nopt4' left out). The first ten prompts are real MMLU rows
// (ASCII only, so Python's Unicode-aware rules and this code's ASCII rules agree); the last
// three are hand-made to reach the corners of the reference's regular expressions.
const std::vector<ReferenceCase>& reference_cases() {
  static const std::vector<ReferenceCase> cases = {
      // clang-format off
    {"elementary_mathematics",
     "Compute 22 / 2 + 9.\nA. 10\nB. 11\nC. 20\nD. 2\nAnswer:",
     {1, 1.0116009116784799, 0.15745916432444337, 0.40546510810816438, 0, 0, 0, 0, 0,
      2.9957322735539909, 6, 0.20000000000000001, 0.10000000000000001, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0}},
    {"abstract_algebra",
     "Statement 1 | 4x - 2 is irreducible over Z. Statement 2 | 4x - 2 is irreducible over Q."
     "\n"
     "A. True, True\n"
     "B. False, False\n"
     "C. True, False\n"
     "D. False, True\n"
     "Answer:",
     {0, 2.4849066497880004, 0.058925565098878967, 0.16705408466316624, 0, 0, 0, 1, 0,
      4.4773368144782069, 20, 0.068181818181818177, 0, 0, 0, 1, 0, 0, 0, 0,
      0.22222222222222221, 0, 0}},
    {"moral_scenarios",
     "For which of these two scenarios does the main character (who uses I/me/my) do something"
     " clearly morally wrong, according to ordinary moral standards in the US as of 2020? "
     "Scenario 1 | I deposited a large turd in the toilet. Scenario 2 | I nailed the song.\n"
     "A. Wrong, Wrong\n"
     "B. Wrong, Not wrong\n"
     "C. Not wrong, Wrong\n"
     "D. Not wrong, Not wrong\n"
     "Answer:",
     {0, 2.8332133440562162, 0.16637806616154061, 0.47957308026188628, 0, 0, 0, 1, 0,
      5.5490760848952201, 47, 0.023346303501945526, 0.01556420233463035, 0, 0, 0, 0, 0, 0, 0,
      0.83333333333333337, 0.36065573770491804, 2}},
    {"astronomy",
     "Which of the following moons is NOT one of the Galilean moons?\n"
     "A. Ganymede\n"
     "B. Callisto\n"
     "C. Europa\n"
     "D. Dione\n"
     "Answer:",
     {0, 2.0476928433652555, 0.16761782008731071, 0.40546510810816438, 0, 0, 0, 0, 0,
      4.1431347263915326, 12, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0}},
    {"miscellaneous",
     "Which of these are not legumes?\nA. beans\nB. peas\nC. radishes\nD. peanuts\nAnswer:",
     {0, 1.9459101490553132, 0.22587697572631282, 0.58778666490211906, 0, 0, 0, 0, 0,
      3.4657359027997265, 6, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0}},
    {"conceptual_physics",
     "In a vacuum, an object has no\n"
     "A. buoyant force\n"
     "B. mass\n"
     "C. weight\n"
     "D. All of these\n"
     "Answer:",
     {0, 2.2772672850097559, 0.39306947991681773, 1.0296194171811581, 1, 0, 0, 0, 0,
      3.4011973816621555, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {"management",
     "What is the optimal span of control?\nA. 2\nB. 5\nC. 7\nD. None of the above\nAnswer:",
     {0.75, 1.791759469228055, 1.1547005383792515, 2.1972245773362196, 0, 1, 0, 0, 0,
      3.6109179126442243, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}},
    {"high_school_psychology",
     "Which of the following scans can image brain function?\n"
     "A. I only\n"
     "B. II only\n"
     "C. III only\n"
     "D. II and III only\n"
     "Answer:",
     {0, 2.3025850929940459, 0.35355339059327379, 0.82667857318446791, 0, 0, 0, 0, 1,
      4.0073331852324712, 9, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0.3666666666666667, 0, 0}},
    {"electrical_engineering",
     "A latch is ________ sensitive\nA. both level and edge\nB. edge\nC. level\nD. nan\nAnswer:",
     {0, 2.1690537003695232, 0.74669339116411315, 1.6094379124341003, 0, 0, 1, 0, 0,
      3.4011973816621555, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0.083333333333333329, 0, 0}},
    {"nutrition",
     "What is the worldwide prevalence of obesity?\n\nA. 11%\nB. 13%\nC. 15%\nD. 39%\nAnswer:",
     {1, 1.3862943611198906, 0, 0, 0, 0, 0, 0, 0, 3.8286413964890951, 7, 0, 0, 0, 0, 0, 0, 1,
      0, 1, 0, 0, 0}},
    {"synthetic: no options",
     "Explain why the sky is blue? Not a quiz.",
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 3.713572066704308, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {"synthetic: regex edge cases",
     "Pick: (i), iv and x_y NOTE\n"
     "\n"
     "A. i, ii\n"
     "B. iv only\n"
     "C. $-1,000.5 kg)\n"
     "D. 12 abcdefg\n"
     "Answer: B\n"
     "Answer:",
     {0.25, 2.5055259369907361, 0.47730675769495923, 1.2527629684953681, 0, 0, 0, 0, 1,
      3.3322045101752038, 6, 0, 0.071428571428571425, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0}},
    {"synthetic: two scenarios repeated",
     "Scenario 1 | I run. I win. Scenario 2 | I I sit. Scenario 1 | x\n"
     "A. Not wrong, Wrong\n"
     "B. true,false\n"
     "Answer:",
     {0, 2.6390573296152589, 0.21428571428571427, 0.4353180712578455, 0, 0, 0, 1, 0,
      4.1588830833596715, 17, 0.046875, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.22500000000000001, 3}},
      // clang-format on
  };
  return cases;
}

TEST(PromptFeatures, NamesAreInTheDocumentedOrder) {
  const std::vector<std::string_view> expected = {
      "opt_numeric", "opt_len_log",  "opt_len_cv",     "opt_maxmin", "all_above",
      "none_above",  "both_neither", "tf_opts",        "roman",      "q_len_log",
      "q_words",     "q_digits",     "q_math",         "q_neg",      "q_negcaps",
      "stmt",        "which",        "q_lines",        "blank",      "q_question_mark",
      "opt_overlap", "ms_len_diff",  "ms_first_person"};
  const auto& names = prompt_feature_names();
  ASSERT_EQ(names.size(), expected.size());
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], expected[i]) << i;
}

TEST(PromptFeatures, MatchTheReferenceImplementation) {
  const auto& names = prompt_feature_names();
  for (const ReferenceCase& c : reference_cases()) {
    const auto got = prompt_features(c.prompt);
    for (std::size_t i = 0; i < kPromptFeatureCount; ++i) {
      EXPECT_NEAR(got[i], c.expected[i], kTolerance) << c.label << ": " << names[i];
    }
    EXPECT_NEAR(question_length_log(c.prompt), c.expected[9], kTolerance) << c.label;
  }
}

TEST(PromptFeatures, PromptWithoutOptionsHasNeutralOptionFeatures) {
  const std::string prompt = "What is 2+2? Explain.";
  const auto f = prompt_features(prompt);
  for (std::size_t i = 0; i < 9; ++i) EXPECT_EQ(f[i], 0.0) << prompt_feature_names()[i];
  EXPECT_EQ(f[20], 0.0);  // opt_overlap
  EXPECT_DOUBLE_EQ(f[9], std::log1p(static_cast<double>(prompt.size())));
  EXPECT_EQ(f[10], 4.0);                // q_words
  EXPECT_DOUBLE_EQ(f[11], 2.0 / 22.0);  // q_digits: two digits in 21 bytes
  EXPECT_DOUBLE_EQ(f[12], 1.0 / 22.0);  // q_math: "+"
  EXPECT_EQ(f[19], 0.0);                // q_question_mark: ends with "."
  EXPECT_EQ(question_stem(prompt), prompt);
  EXPECT_DOUBLE_EQ(question_length_log(prompt), f[9]);
  const auto empty = prompt_features("");
  for (double v : empty) EXPECT_EQ(v, 0.0);
}

TEST(PromptFeatures, QuestionStemAndQuestionPart) {
  // The stem stops at the first "\nA. "; the question part of the features also stops at
  // "\nB. ".."\nD. " and ignores everything after the last "\nAnswer:".
  EXPECT_EQ(question_stem("Q?\nA. x\nB. y\nAnswer:"), "Q?");
  EXPECT_EQ(question_stem("Q?\nB. y\nA. x"), "Q?\nB. y");
  EXPECT_EQ(question_stem("no options"), "no options");
  EXPECT_DOUBLE_EQ(question_length_log("Q?\nB. y\nA. x"), std::log1p(2.0));
  EXPECT_DOUBLE_EQ(question_length_log("Why?\nAnswer: no\nAnswer:"),
                   std::log1p(static_cast<double>(std::string("Why?\nAnswer: no").size())));
  // "E. " does not start an option; "A." without the space neither.
  EXPECT_DOUBLE_EQ(question_length_log("Q\nE. e\nA.x"), std::log1p(10.0));
}

TEST(PromptFeatures, EveryMmluRowGivesValidValuesAndAsciiRowsSumLikeTheReference) {
  const CsvTable table = read_csv_file(TRIAGE_SOURCE_DIR "/data/routellm/mmlu.csv");
  const auto prompt_col = table.column("prompt");
  ASSERT_TRUE(prompt_col.has_value());
  ASSERT_EQ(table.rows.size(), 9769u);
  const auto& names = prompt_feature_names();
  const std::vector<std::size_t> binary = {4, 5, 6, 7, 8, 13, 14, 15, 16, 18, 19};
  const std::vector<std::size_t> unit_interval = {0, 11, 12, 20, 21};
  const std::vector<std::size_t> counts = {10, 17, 22};
  std::array<double, kPromptFeatureCount> ascii_sums{};
  std::size_t ascii_rows = 0;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const std::string prompt = table.rows[r][*prompt_col].value_or("");
    const auto f = prompt_features(prompt);
    for (std::size_t i = 0; i < kPromptFeatureCount; ++i) {
      ASSERT_TRUE(std::isfinite(f[i])) << "row " << r << " " << names[i];
      ASSERT_GE(f[i], 0.0) << "row " << r << " " << names[i];
    }
    for (std::size_t i : binary) ASSERT_TRUE(f[i] == 0.0 || f[i] == 1.0) << r << " " << names[i];
    for (std::size_t i : unit_interval) ASSERT_LE(f[i], 1.0) << r << " " << names[i];
    for (std::size_t i : counts) ASSERT_EQ(f[i], std::floor(f[i])) << r << " " << names[i];
    ASSERT_LE(f[14], f[13]) << r;  // q_negcaps implies q_neg
    ASSERT_EQ(question_length_log(prompt), f[9]) << r;
    bool ascii = true;
    for (char c : prompt) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) {
      ++ascii_rows;
      for (std::size_t i = 0; i < kPromptFeatureCount; ++i) ascii_sums[i] += f[i];
    }
  }
  // Sums over the ASCII-only rows computed by the reference implementation (feats.py), where
  // its Unicode rules and the ASCII rules here coincide.
  EXPECT_EQ(ascii_rows, 8526u);
  const std::array<double, kPromptFeatureCount> reference_sums = {591.25,
                                                                  28094.898450312987,
                                                                  1845.9739343576061,
                                                                  4941.1155060004403,
                                                                  215,
                                                                  128,
                                                                  271,
                                                                  676,
                                                                  59,
                                                                  41817.243350959514,
                                                                  334576,
                                                                  70.716749148800048,
                                                                  31.005006534690622,
                                                                  1134,
                                                                  192,
                                                                  33,
                                                                  1961,
                                                                  1165,
                                                                  326,
                                                                  4381,
                                                                  1665.6672858870159,
                                                                  107.82213775122635,
                                                                  1453};
  for (std::size_t i = 0; i < kPromptFeatureCount; ++i) {
    EXPECT_NEAR(ascii_sums[i], reference_sums[i], 1e-6) << names[i];
  }
}

// The scans against the reference's regular expressions (std::regex, ECMAScript: the same \b
// and \w on ASCII) and plain definitions, on random MMLU-shaped prompts made of the pieces
// the patterns look for, long enough to cross the scans' 64-byte blocks.
TEST(PromptFeatures, ScansAgreeWithTheReferencePatternsOnRandomPrompts) {
  const std::vector<std::string> pieces = {
      "not", "NOT", "Not", "except", "EXCEPT", "least", "LEAST", "both", "neither", "Both",
      "true", "false", "wrong", "TRUE", "i", "ii", "iii", "iv", "iiv", "vi", ",", " and",
      " only", ", ", " ", "  ", "\t", "\n", "_", "x_y", "1", "23", "4.5", "=", "+", "(", ")",
      "{", "}", "which of the following", "Which Of The Following", "a", "Z", "0", "@", "[",
      "`", "~", "\x80", "\xc3\xa9", "\x1c", "\x1f", "notx", "xnot", "bothneither"};
  auto is_space = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == ' ' || (u >= '\t' && u <= '\r') || (u >= 0x1c && u <= 0x1f);
  };
  auto split = [&](const std::string& s) {
    std::vector<std::string> out;
    std::string w;
    for (char c : s) {
      if (is_space(c)) {
        if (!w.empty()) out.push_back(w);
        w.clear();
      } else {
        w += c;
      }
    }
    if (!w.empty()) out.push_back(w);
    return out;
  };
  auto lower = [](std::string s) {
    for (char& c : s) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
    return s;
  };
  auto found = [](const std::string& s, const char* pattern) {
    return std::regex_search(s, std::regex(pattern)) ? 1.0 : 0.0;
  };
  std::mt19937 rng(17);
  auto text = [&](std::size_t min_bytes) {
    std::string s = "q";  // the question part may not start with an option line
    while (s.size() < min_bytes) s += pieces[rng() % pieces.size()];
    return s;
  };
  for (int round = 0; round < 1000; ++round) {
    const std::string q = text(rng() % 200);
    std::vector<std::string> opts;
    for (int i = 0; i < 4; ++i) opts.push_back(text(rng() % 90));
    std::string prompt = q;
    for (int i = 0; i < 4; ++i) {
      prompt += '\n';
      prompt += static_cast<char>('A' + i);
      prompt += ". ";
      prompt += opts[i];
    }
    prompt += "\nAnswer:";
    // No piece holds a capital A-D after a newline, so the options are exactly the four.
    const std::string& question = q;
    const std::vector<std::string>& parsed = opts;
    std::string lo = lower(parsed[0]);
    for (std::size_t i = 1; i < parsed.size(); ++i) {
      lo += ' ';
      lo += lower(parsed[i]);
    }
    const auto f = prompt_features(prompt);
    SCOPED_TRACE(prompt);
    EXPECT_EQ(f[6], found(lo, R"(\b(both|neither)\b)"));
    EXPECT_EQ(f[7], found(lo, R"(\b(true|false|wrong)\b, )"));
    EXPECT_EQ(f[8], found(lo, R"(\b(i+|iv)\b(,| and| only))"));
    EXPECT_EQ(f[10], static_cast<double>(split(question).size()));
    std::size_t digits = 0, math = 0, lines = 0;
    for (char c : question) {
      digits += c >= '0' && c <= '9';
      math += std::string("=+^*/<>()[]{}").find(c) != std::string::npos && c != 0;
      lines += c == '\n';
    }
    const double q_len1 = static_cast<double>(question.size()) + 1.0;
    EXPECT_EQ(f[11], static_cast<double>(digits) / q_len1);
    EXPECT_EQ(f[12], static_cast<double>(math) / q_len1);
    EXPECT_EQ(f[13], found(question, R"(\b(not|except|least|NOT|EXCEPT|LEAST)\b)"));
    EXPECT_EQ(f[14], found(question, R"(\b(NOT|EXCEPT|LEAST)\b)"));
    EXPECT_EQ(f[16], lower(question).find("which of the following") != std::string::npos);
    EXPECT_EQ(f[17], static_cast<double>(lines));
    EXPECT_EQ(f[18], question.find('_') != std::string::npos);
    double overlap = 0.0;
    for (std::size_t i = 0; i < 4; ++i) {
      for (std::size_t j = i + 1; j < 4; ++j) {
        const auto wi = split(lower(parsed[i])), wj = split(lower(parsed[j]));
        const std::set<std::string> a(wi.begin(), wi.end()), b(wj.begin(), wj.end());
        std::size_t inter = 0;
        for (const auto& w : a) inter += b.count(w);
        const std::size_t uni = a.size() + b.size() - inter;
        overlap += static_cast<double>(inter) / static_cast<double>(uni == 0 ? 1 : uni);
      }
    }
    EXPECT_DOUBLE_EQ(f[20], overlap / 6.0);
  }
}

}  // namespace
}  // namespace triage::ml
