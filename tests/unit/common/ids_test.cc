#include "common/ids.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace triage {
namespace {

TEST(Ids, TimeOrderedIdsSortByTime) {
  const std::string a = time_ordered_hex_id(1'700'000'000'000);
  const std::string b = time_ordered_hex_id(1'700'000'000'001);
  EXPECT_EQ(a.size(), 24u);
  EXPECT_LT(a, b);
}

TEST(Ids, ReplicaIdNamesThisProcessAndStaysTheSame) {
  const std::string& id = replica_id();
  EXPECT_NE(id.find("-" + std::to_string(getpid()) + "-"), std::string::npos) << id;
  EXPECT_EQ(&id, &replica_id());
  EXPECT_EQ(id, replica_id());
  EXPECT_EQ(id.size() - id.rfind('-') - 1, 6u) << id;  // the random part
}

}  // namespace
}  // namespace triage
