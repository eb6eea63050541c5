#include "net/endpoint.h"

#include <gtest/gtest.h>

namespace triage::net {
namespace {

TEST(Endpoint, HttpsDefaultsAndBasePath) {
  auto ep = parse_endpoint("https://api.openai.com/v1/");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_TRUE(ep->tls);
  EXPECT_EQ(ep->host, "api.openai.com");
  EXPECT_EQ(ep->port, 443);
  EXPECT_EQ(ep->base_path, "/v1");
  EXPECT_EQ(ep->origin, "https://api.openai.com:443");
  EXPECT_EQ(ep->host_header, "api.openai.com");
  EXPECT_EQ(ep->target("/chat/completions"), "/v1/chat/completions");
}

TEST(Endpoint, HttpWithPortAndNoPath) {
  auto ep = parse_endpoint("http://127.0.0.1:9000");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_FALSE(ep->tls);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 9000);
  EXPECT_EQ(ep->base_path, "");
  EXPECT_EQ(ep->host_header, "127.0.0.1:9000");
  EXPECT_EQ(ep->target("/messages"), "/messages");
}

TEST(Endpoint, Ipv6Literal) {
  auto ep = parse_endpoint("http://[::1]:8081/api/v1");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->host_header, "[::1]:8081");
  EXPECT_EQ(ep->origin, "http://[::1]:8081");
  EXPECT_EQ(ep->base_path, "/api/v1");
}

TEST(Endpoint, Rejects) {
  for (const char* bad :
       {"ftp://x/v1", "api.openai.com/v1", "http://user:pw@host/v1", "http://host/v1?x=1",
        "http://host:0/", "http://host:70000/", "", "http:///v1"}) {
    auto ep = parse_endpoint(bad);
    EXPECT_FALSE(ep.ok()) << bad;
    if (!ep.ok()) {
      EXPECT_EQ(ep.error().code, ErrorCode::kInvalidRequest);
    }
  }
}

TEST(Endpoint, NeverEchoesUserInfoSecret) {
  auto ep = parse_endpoint("https://user:sekret@host/v1");
  ASSERT_FALSE(ep.ok());
  // The URL is echoed so the operator can find it; user info is refused so keys stay in env.
  EXPECT_NE(ep.error().message.find("user info"), std::string::npos);
}

}  // namespace
}  // namespace triage::net
