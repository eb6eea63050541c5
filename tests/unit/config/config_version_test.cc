// Config versions: the content hash is SHA-256 of the file's bytes (known vectors), and the
// loader keeps those bytes so that the version and the history see exactly what was parsed.
#include "config/config_version.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace triage::config {
namespace {

TEST(ConfigVersion, HashIsSha256OfTheBytes) {
  EXPECT_EQ(content_sha256(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(content_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ConfigVersion, AnyByteChangesTheHashEvenWhenTheMeaningIsTheSame) {
  const std::string a = "models: []\n";
  const std::string b = "models: []  \n";
  EXPECT_NE(content_sha256(a), content_sha256(b));
  EXPECT_EQ(content_sha256(a), content_sha256(std::string(a)));
}

TEST(ConfigVersion, TheLoaderKeepsTheTextItParsed) {
  const std::string yaml =
      "models:\n  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n";
  const Config cfg = parse_config(yaml, "t.yaml");
  EXPECT_EQ(cfg.text, yaml);
  EXPECT_EQ(content_sha256(cfg.text), content_sha256(yaml));
}

}  // namespace
}  // namespace triage::config

namespace triage::config {
namespace {

// store.leader_lease_ms (docs/scaling.md "One controller"): a fleet's lease, 10 s by default;
// only with config_poll_ms, at least 300 ms; errors FILE:LINE: PATH: message.
TEST(LeaderLeaseConfig, DefaultRangeAndFleetOnly) {
  const char* kModels = "models:\n  - {name: m, provider: openai}\n";
  EXPECT_EQ(parse_config(std::string("store: {path: s.db, config_poll_ms: 500}\n") + kModels,
                         "t.yaml")
                .store.leader_lease_ms,
            10000);
  EXPECT_EQ(parse_config(std::string("store: {path: s.db, config_poll_ms: 500, "
                                     "leader_lease_ms: 1500}\n") +
                             kModels,
                         "t.yaml")
                .store.leader_lease_ms,
            1500);
  auto error_of = [&](const std::string& store) {
    try {
      parse_config(store + kModels, "t.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string alone = error_of("store: {path: s.db, leader_lease_ms: 1500}\n");
  EXPECT_NE(alone.find("t.yaml:1: store.leader_lease_ms: is for replicas sharing one store"),
            std::string::npos)
      << alone;
  const std::string tiny =
      error_of("store: {path: s.db, config_poll_ms: 500, leader_lease_ms: 100}\n");
  EXPECT_NE(tiny.find("store.leader_lease_ms: must be >= 300, got 100"), std::string::npos)
      << tiny;
}

}  // namespace
}  // namespace triage::config
