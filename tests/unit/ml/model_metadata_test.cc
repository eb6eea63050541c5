// Router versions in model metadata (ml/model_metadata.h, docs/loop.md).
#include "ml/model_metadata.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace triage::ml {
namespace {

TEST(RouterVersion, DefaultIsTheDataHashPrefix) {
  EXPECT_EQ(default_router_version("0f228df4fe429d94d527a7dc330da1879bb9215a33b126db09ff3ec53abfec54"),
            "r-0f228df4");
  EXPECT_EQ(default_router_version("abc"), "");
}

TEST(RouterVersion, ReadsTheVersionElseDerivesItFromTheDataHash) {
  EXPECT_EQ(router_version(boost::json::object{{"version", "v7"}, {"data_file_sha256", "1234abcd99"}}),
            "v7");
  // Files written before versions existed: the version their data would get now.
  EXPECT_EQ(router_version(boost::json::object{{"data_file_sha256", "1234abcd99"}}), "r-1234abcd");
  EXPECT_EQ(router_version(boost::json::object{{"version", 3}}), "");
  EXPECT_EQ(router_version(boost::json::object{}), "");
}

}  // namespace
}  // namespace triage::ml
