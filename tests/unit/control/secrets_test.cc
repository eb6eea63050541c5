#include "control/secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace triage::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(ControlSecretsTest, Sha256AndHexMatchTheStandardVector) {
  EXPECT_EQ(to_hex(sha256("abc")), kAbcSha256);
}

TEST(ControlSecretsTest, KeyIdIsTwelveHexDigitsOfTheDigest) {
  // The same id the gateway already writes to the store for a Bearer key.
  EXPECT_EQ(key_id_from_digest(sha256("abc")), "key_ba7816bf8f01");
}

TEST(ControlSecretsTest, DigestFromHexAcceptsEitherCase) {
  auto lower = digest_from_hex(kAbcSha256);
  ASSERT_TRUE(lower.ok()) << lower.error().message;
  EXPECT_TRUE(digests_equal(lower.value(), sha256("abc")));
  std::string upper = kAbcSha256;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto up = digest_from_hex(upper);
  ASSERT_TRUE(up.ok());
  EXPECT_TRUE(digests_equal(up.value(), lower.value()));
}

TEST(ControlSecretsTest, DigestFromHexSaysWhatIsWrongWithoutEchoingTheValue) {
  const std::string short_value(63, 'a');
  auto r = digest_from_hex(short_value);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("64 hex digits"));
  EXPECT_THAT(r.error().message, HasSubstr("got 63 characters"));
  EXPECT_THAT(r.error().message, Not(HasSubstr(short_value)));

  std::string bad = kAbcSha256;
  bad[9] = 'g';
  auto r2 = digest_from_hex(bad);
  ASSERT_FALSE(r2.ok());
  EXPECT_THAT(r2.error().message, HasSubstr("character 10 is not a hex digit"));
  EXPECT_THAT(r2.error().message, Not(HasSubstr("ba7816")));
}

TEST(ControlSecretsTest, EnvSecretIsHashedAndValidated) {
  auto ok = digest_from_env_secret("TEAM_KEY", "a-long-enough-secret-42");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(digests_equal(ok.value(), sha256("a-long-enough-secret-42")));

  auto unset = digest_from_env_secret("TEAM_KEY", nullptr);
  ASSERT_FALSE(unset.ok());
  EXPECT_THAT(unset.error().message, HasSubstr("TEAM_KEY"));
  EXPECT_THAT(unset.error().message, HasSubstr("not set"));
  EXPECT_FALSE(digest_from_env_secret("TEAM_KEY", "").ok());

  const char* short_secret = "short-secret-15";  // 15 characters
  auto too_short = digest_from_env_secret("TEAM_KEY", short_secret);
  ASSERT_FALSE(too_short.ok());
  EXPECT_THAT(too_short.error().message, HasSubstr("at least 16"));
  EXPECT_THAT(too_short.error().message, Not(HasSubstr(short_secret)));

  auto newline = digest_from_env_secret("TEAM_KEY", "a-long-enough-secret-42\n");
  ASSERT_FALSE(newline.ok());
  EXPECT_THAT(newline.error().message, HasSubstr("whitespace"));
  EXPECT_THAT(newline.error().message, Not(HasSubstr("a-long-enough")));
}

TEST(ControlSecretsTest, GeneratedSecretsArePrefixedLongAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto s = generate_secret();
    ASSERT_TRUE(s.ok());
    const std::string& secret = s.value();
    ASSERT_EQ(secret.rfind("tri_", 0), 0u) << secret;
    ASSERT_EQ(secret.size(), 4u + 48u);
    for (char c : secret.substr(4)) ASSERT_TRUE(std::isxdigit(static_cast<unsigned char>(c)));
    EXPECT_TRUE(digest_from_env_secret("X", secret.c_str()).ok());  // valid as a declared secret
    seen.insert(secret);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(ControlSecretsTest, AdminTokenMatchesOnlyTheExactToken) {
  auto token = AdminToken::from_env("TRIAGE_ADMIN_TOKEN", "operator-token-0123456789");
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(token->matches("operator-token-0123456789"));
  EXPECT_FALSE(token->matches("operator-token-012345678"));    // a prefix
  EXPECT_FALSE(token->matches("operator-token-0123456789x"));  // longer
  EXPECT_FALSE(token->matches("Operator-token-0123456789"));
  EXPECT_FALSE(token->matches(""));

  auto missing = AdminToken::from_env("TRIAGE_ADMIN_TOKEN", nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("TRIAGE_ADMIN_TOKEN"));
}

TEST(ControlSecretsTest, DigestsEqualComparesAllBytes) {
  Sha256Digest a = sha256("x");
  Sha256Digest b = a;
  EXPECT_TRUE(digests_equal(a, b));
  b[31] ^= 1;
  EXPECT_FALSE(digests_equal(a, b));
  b = a;
  b[0] ^= 0x80;
  EXPECT_FALSE(digests_equal(a, b));
}

}  // namespace
}  // namespace triage::control
