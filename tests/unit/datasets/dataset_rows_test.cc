// Numeric dataset cells (datasets::parse_number_cell): grades and costs are finite numbers or
// absent, never NaN or infinity (found by fuzz_csv: from_chars reads "nan" and "inf").
#include "datasets/dataset_rows.h"

#include <gtest/gtest.h>

namespace triage::datasets {
namespace {

TEST(ParseNumberCell, ReadsNumbersAndBooleans) {
  EXPECT_EQ(parse_number_cell(std::string(" 0.5 ")), 0.5);
  EXPECT_EQ(parse_number_cell(std::string("True")), 1.0);
  EXPECT_EQ(parse_number_cell(std::string("false")), 0.0);
  EXPECT_EQ(parse_number_cell(std::string("-2e3")), -2000.0);
}

TEST(ParseNumberCell, NonFiniteAndNonNumbersAreAbsent) {
  for (const char* s : {"nan", "NaN", "-nan", "inf", "-inf", "infinity", "1e999", "", " ", "x1",
                        "1x"}) {
    EXPECT_FALSE(parse_number_cell(std::string(s)).has_value()) << '"' << s << '"';
  }
  EXPECT_FALSE(parse_number_cell(std::nullopt).has_value());
}

}  // namespace
}  // namespace triage::datasets
