// AccessControl: config keys and the admin token read from the environment, client keys on a
// request, the admin credential (Bearer, session cookie, loopback without a token) and the
// worst case a request reserves.
#include "server/access_control.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/config.h"
#include "test_http.h"

namespace triage::server {
namespace {

using testing::FakeRequest;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kAdmin = "admin-token-0123456789abcdef";
constexpr const char* kTeam = "team-secret-0123456789abcdef";

config::Config config_with_auth(const std::string& auth) {
  return config::parse_config(
      "models:\n"
      "  - {name: cheap, provider: local, local: {model_path: m.bin}, prices: {input: 1, output: "
      "2}}\n"
      "  - {name: dear, provider: local, local: {model_path: m.bin}, prices: {input: 10, output: "
      "30}}\n"
      "routes:\n"
      "  - {name: support, type: model, model: cheap}\n" +
          auth,
      "triage.yaml");
}

providers::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

FakeRequest with(std::map<std::string, std::string> headers) {
  return FakeRequest("GET", "/", {}, std::move(headers));
}

class AccessControlTest : public ::testing::Test {
 protected:
  const config::Config cfg_ = config_with_auth(
      "auth:\n"
      "  admin_token_env: ADMIN\n"
      "  keys:\n"
      "    - {name: team, secret_env: TEAM, routes: [support], usd_per_day: 5}\n");
  AccessControl access_{cfg_, env_of({{"ADMIN", kAdmin}, {"TEAM", kTeam}})};
};

TEST_F(AccessControlTest, ClientKeyFromEitherHeader) {
  EXPECT_TRUE(access_.keys_required());
  auto bearer = access_.client_key(with({{"authorization", std::string("Bearer ") + kTeam}}));
  ASSERT_TRUE(bearer.ok());
  EXPECT_EQ(bearer.value()->name, "team");
  auto x_api_key = access_.client_key(with({{"x-api-key", kTeam}}));
  ASSERT_TRUE(x_api_key.ok());
  EXPECT_EQ(x_api_key.value()->id, bearer.value()->id);
  EXPECT_EQ(access_.client_key(with({})).error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(access_.client_key(with({{"x-api-key", "wrong-secret-0123456789"}})).error().code,
            ErrorCode::kUnauthorized);
  // The admin token is not a client key.
  EXPECT_FALSE(access_.client_key(with({{"authorization", std::string("Bearer ") + kAdmin}})).ok());
}

TEST_F(AccessControlTest, AllowListIsA403) {
  auto key = access_.client_key(with({{"x-api-key", kTeam}})).value();
  EXPECT_TRUE(AccessControl::check_allowed(*key, "support").ok());
  const Result<void> denied = AccessControl::check_allowed(*key, "dear");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
}

TEST_F(AccessControlTest, AdminByBearerOrSessionCookieNeverByClientKey) {
  EXPECT_FALSE(access_.check_admin(with({})).ok());
  EXPECT_FALSE(access_.check_admin(with({{"authorization", std::string("Bearer ") + kTeam}})).ok());
  EXPECT_TRUE(access_.check_admin(with({{"authorization", std::string("bearer ") + kAdmin}})).ok());
  // Loopback does not replace a configured token.
  FakeRequest local = with({});
  local.loopback = true;
  EXPECT_FALSE(access_.check_admin(local).ok());

  EXPECT_FALSE(access_.sign_in("wrong").has_value());
  const std::optional<std::string> cookie = access_.sign_in(kAdmin);
  ASSERT_TRUE(cookie.has_value());
  EXPECT_THAT(*cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(*cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(*cookie, Not(HasSubstr(kAdmin)));
  const std::string session = cookie->substr(0, cookie->find(';'));
  EXPECT_TRUE(access_.check_admin(with({{"cookie", "theme=dark; " + session}})).ok());
  EXPECT_FALSE(access_.check_admin(with({{"cookie", "triage_session=tri_forged"}})).ok());
}

TEST(AccessControlDefaults, WithoutAuthNothingIsRequired) {
  const config::Config cfg = config_with_auth("");
  AccessControl access(cfg, env_of({}));
  EXPECT_FALSE(access.keys_required());
  auto key = access.client_key(with({}));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key.value(), nullptr);
  EXPECT_TRUE(access.check_admin(with({})).ok());
}

TEST(AccessControlDefaults, AuthWithoutAdminTokenKeepsOperatorsOnLoopback) {
  const config::Config cfg = config_with_auth("auth: {keys: []}\n");
  AccessControl access(cfg, env_of({}));
  FakeRequest remote = with({});
  EXPECT_EQ(access.check_admin(remote).error().code, ErrorCode::kForbidden);
  FakeRequest local = with({});
  local.loopback = true;
  EXPECT_TRUE(access.check_admin(local).ok());
}

TEST(AccessControlDefaults, MissingEnvSecretIsAConfigErrorNamingTheField) {
  const config::Config cfg =
      config_with_auth("auth:\n  keys:\n    - {name: team, secret_env: TEAM}\n");
  try {
    AccessControl access(cfg, env_of({}));
    FAIL() << "an unset secret_env must refuse to start";
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("triage.yaml:8: auth.keys[0].secret_env: "));
    EXPECT_THAT(e.what(), HasSubstr("TEAM"));
  }
  try {
    AccessControl access(cfg, env_of({{"TEAM", "short"}}));
    FAIL() << "a short secret must refuse to start";
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr("short'")));
  }
}

TEST(AccessControlWorstCase, BodyBytesPlusMaxTokensOncePerReachableModel) {
  const config::Config cfg = config_with_auth("");
  const config::Model* cheap = cfg.find_model("cheap");
  const config::Model* dear = cfg.find_model("dear");
  core::ChatRequest req;
  req.max_tokens = 100;
  // A route reaching both (a cascade that may climb from cheap to dear) may pay for both calls.
  const auto w = AccessControl::worst_case(1000, req, {cheap, dear});
  EXPECT_EQ(w.tokens, 2 * 1100);
  EXPECT_DOUBLE_EQ(w.usd, config::cost_usd(cheap->prices, 1000, 100) +
                              config::cost_usd(dear->prices, 1000, 100));
  EXPECT_DOUBLE_EQ(AccessControl::worst_case(1000, req, {dear}).usd,
                   (1000 * 10.0 + 100 * 30.0) / 1e6);
  // Without max_tokens the default cap is reserved and imposed on the request.
  core::ChatRequest open;
  const auto capped = AccessControl::worst_case(10, open, {cfg.find_model("cheap")});
  ASSERT_TRUE(open.max_tokens.has_value());
  EXPECT_EQ(*open.max_tokens, AccessControl::kDefaultMaxTokens);
  EXPECT_EQ(capped.tokens, 10 + AccessControl::kDefaultMaxTokens);
}

TEST(CookieValue, FindsTheNamedCookie) {
  EXPECT_EQ(cookie_value("a=1; triage_session=xyz; b=2", "triage_session"), "xyz");
  EXPECT_EQ(cookie_value("triage_session_old=1", "triage_session"), "");
  EXPECT_EQ(cookie_value("", "triage_session"), "");
}

}  // namespace
}  // namespace triage::server
