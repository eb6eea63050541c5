// Hot reload's restart-only rule: a change to what the process built once (the listener, the
// store, the admin credential, OTLP export, review rules) is refused naming the field; what
// each config version rebuilds (models, routes, prices, the request deadline) is not.
#include "server/config_versions.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace triage::server {
namespace {

config::Config parse(const std::string& extra) {
  return config::parse_config(
      extra + "models:\n  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n",
      "t.yaml");
}

TEST(RestartOnlyChange, NamesTheFieldAndBothValues) {
  const config::Config running = parse("server: {port: 8080, threads: 2}\n");
  EXPECT_EQ(restart_only_change(running, running), std::nullopt);
  EXPECT_EQ(restart_only_change(running, parse("server: {port: 9090, threads: 2}\n")),
            "server.port: cannot change on reload (8080 -> 9090); restart the gateway to change "
            "it");
  EXPECT_EQ(restart_only_change(running, parse("server: {port: 8080, threads: 4}\n")).value_or(""),
            "server.threads: cannot change on reload (2 -> 4); restart the gateway to change it");
  EXPECT_NE(restart_only_change(running, parse("server: {port: 8080, threads: 2}\n"
                                               "store: {path: other.db}\n"))
                .value_or("")
                .find("store.path: cannot change on reload"),
            std::string::npos);
  EXPECT_NE(restart_only_change(running, parse("server: {port: 8080, threads: 2}\nauth: {}\n"))
                .value_or("")
                .find("auth: cannot change on reload (false -> true)"),
            std::string::npos);
}

TEST(RestartOnlyChange, WhatAVersionRebuildsMayChange) {
  const config::Config running = parse("server: {port: 8080, request_timeout_ms: 1000}\n");
  const config::Config next = config::parse_config(
      "server: {port: 8080, request_timeout_ms: 5000}\n"
      "models:\n"
      "  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:10/v1\", prices: {input: 3}}\n"
      "  - {name: n, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
      "routes:\n  - {name: r, type: model, model: n}\n",
      "t.yaml");
  EXPECT_EQ(restart_only_change(running, next), std::nullopt);
}

}  // namespace
}  // namespace triage::server
