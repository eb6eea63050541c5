#include "common/json_text.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace triage {
namespace {

std::string quoted(std::string_view s, JsonStringMode mode) {
  std::string out = "x=";
  append_json_string(out, s, mode);
  return out;
}

TEST(JsonTextTest, EscapesQuotesBackslashesAndCommonControlsInBothModes) {
  for (auto mode : {JsonStringMode::kStrict, JsonStringMode::kVerbatim}) {
    EXPECT_EQ(quoted("a\"b\\c\nd\re\tf", mode), "x=\"a\\\"b\\\\c\\nd\\re\\tf\"");
    EXPECT_EQ(quoted(std::string("\x01\x1f", 2), mode), "x=\"\\u0001\\u001f\"");
    EXPECT_EQ(quoted("", mode), "x=\"\"");
  }
}

TEST(JsonTextTest, StrictUsesShortBackspaceAndFormFeedVerbatimSpellsThemOut) {
  EXPECT_EQ(quoted("\b\f", JsonStringMode::kStrict), "x=\"\\b\\f\"");
  EXPECT_EQ(quoted("\b\f", JsonStringMode::kVerbatim), "x=\"\\u0008\\u000c\"");
}

TEST(JsonTextTest, StrictReplacesInvalidUtf8VerbatimPassesBytesThrough) {
  const std::string valid = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  EXPECT_EQ(quoted(valid, JsonStringMode::kStrict), "x=\"" + valid + "\"");
  EXPECT_EQ(quoted(valid, JsonStringMode::kVerbatim), "x=\"" + valid + "\"");
  const std::string invalid = "a\xc3(b\xff";  // truncated sequence, then a byte never valid
  EXPECT_EQ(quoted(invalid, JsonStringMode::kStrict), "x=\"a\xEF\xBF\xBD(b\xEF\xBF\xBD\"");
  EXPECT_EQ(quoted(invalid, JsonStringMode::kVerbatim), "x=\"" + invalid + "\"");
  // Overlong encoding and a UTF-16 surrogate are invalid UTF-8: one U+FFFD per byte.
  EXPECT_EQ(quoted("\xc0\xaf", JsonStringMode::kStrict), "x=\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(quoted("\xed\xa0\x80", JsonStringMode::kStrict),
            "x=\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(JsonTextTest, NumbersAreShortestRoundTripAndNonFiniteIsNull) {
  std::string out;
  append_json_int(out, -42);
  out += ',';
  append_json_double(out, 0.00042);
  out += ',';
  append_json_double(out, 12.5);
  out += ',';
  append_json_double(out, std::numeric_limits<double>::quiet_NaN());
  out += ',';
  append_json_double(out, std::numeric_limits<double>::infinity());
  EXPECT_EQ(out, "-42,0.00042,12.5,null,null");
}

}  // namespace
}  // namespace triage
