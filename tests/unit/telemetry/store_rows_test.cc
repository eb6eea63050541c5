#include "telemetry/store_rows.h"

#include <gtest/gtest.h>

namespace triage::telemetry {
namespace {

TEST(StoreRows, ListsRoundTripAndSkipEmptyItems) {
  const std::vector<std::string> routes = {"support", "math"};
  EXPECT_EQ(join_list(routes, '\n'), "support\nmath");
  EXPECT_EQ(split_list(join_list(routes, '\n'), '\n'), routes);
  EXPECT_EQ(split_list("escalated,,flag_band,", ','),
            (std::vector<std::string>{"escalated", "flag_band"}));
  EXPECT_TRUE(split_list("", ',').empty());
  EXPECT_EQ(join_list({}, ','), "");
}

TEST(StoreRows, DimensionKeysNameTheirColumn) {
  EXPECT_NE(std::string(dimension_key_sql(Dimension::kTier)).find("(tier, '')"),
            std::string::npos);
  EXPECT_NE(std::string(dimension_key_sql(Dimension::kKey)).find("api_key_name"),
            std::string::npos);
  EXPECT_STREQ(dimension_key_sql(Dimension::kNone), "'all'");
}

}  // namespace
}  // namespace triage::telemetry
