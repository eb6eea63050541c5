// The `review:` section and store.keep_payloads.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace triage::config {
namespace {

using core::ReviewFlag;

constexpr const char* kModels = R"(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:1/v1", tier: small}
)";

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ReviewConfig, DefaultsAndOverrides) {
  Config d = parse_config(kModels, "t.yaml");
  EXPECT_EQ(d.review.flags,
            (std::vector<ReviewFlag>{ReviewFlag::kFlagBand, ReviewFlag::kEscalated,
                                     ReviewFlag::kCascaded, ReviewFlag::kFinalChecksFailed,
                                     ReviewFlag::kVerificationFailed,
                                     ReviewFlag::kStepChecksFailed}));
  EXPECT_DOUBLE_EQ(d.review.sample_large, 0.02);
  EXPECT_TRUE(d.review.negative_feedback);
  EXPECT_FALSE(d.store.keep_payloads);

  Config c = parse_config(std::string("review:\n  flags: [cascaded]\n  sample_large: 0.5\n"
                                      "  negative_feedback: false\nstore:\n  keep_payloads: true\n") +
                              kModels,
                          "t.yaml");
  EXPECT_EQ(c.review.flags, std::vector<ReviewFlag>{ReviewFlag::kCascaded});
  EXPECT_DOUBLE_EQ(c.review.sample_large, 0.5);
  EXPECT_FALSE(c.review.negative_feedback);
  EXPECT_TRUE(c.store.keep_payloads);
  EXPECT_TRUE(parse_config(std::string("review: {flags: []}\n") + kModels, "t.yaml").review.flags.empty());
}

TEST(ReviewConfig, ErrorsNameTheLineAndPath) {
  EXPECT_EQ(error_of(std::string("review:\n  flags: [cascaded, flag_bnad]\n") + kModels),
            "t.yaml:2: review.flags[1]: unknown review flag 'flag_bnad' (did you mean 'flag_band'?)");
  EXPECT_EQ(error_of(std::string("review:\n  sample_large: 2\n") + kModels),
            "t.yaml:2: review.sample_large: must be between 0 and 1, got 2");
  EXPECT_NE(error_of(std::string("review:\n  sample: 0.1\n") + kModels).find("review.sample"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("review:\n  flags: cascaded\n") + kModels).find("review.flags"),
            std::string::npos);
  // Flags that are not review rules, and queue reasons, are not review.flags entries.
  EXPECT_EQ(error_of(std::string("review:\n  flags: [sample_large]\n") + kModels),
            "t.yaml:2: review.flags[0]: unknown review flag 'sample_large' (known: flag_band, "
            "escalated, cascaded, final_checks_failed, verification_failed, step_checks_failed)");
  EXPECT_EQ(error_of(std::string("review:\n  flags: [cascaded, cascaded]\n") + kModels),
            "t.yaml:2: review.flags[1]: duplicate flag 'cascaded'");
  // Names are parsed in file order into the typed list.
  EXPECT_EQ(parse_config(std::string("review: {flags: [step_checks_failed, flag_band]}\n") +
                             kModels,
                         "t.yaml")
                .review.flags,
            (std::vector<ReviewFlag>{ReviewFlag::kStepChecksFailed, ReviewFlag::kFlagBand}));
}

}  // namespace
}  // namespace triage::config
