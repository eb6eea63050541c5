#include "cache/cache_key.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace triage::cache {
namespace {

core::ChatRequest request(const std::string& body_json) {
  core::ChatRequest r;
  r.body = boost::json::parse(body_json).as_object();
  if (const auto* t = r.body.if_contains("temperature")) r.temperature = t->to_number<double>();
  return r;
}

const std::string kBase =
    R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50})";

std::string key_of(const std::string& body, std::string_view scope = "key_a",
                   std::string_view version = "v1", std::string_view name = "r") {
  return cache_key(request(body), name, version, scope);
}

TEST(CacheKey, CanonicalJsonSortsKeysAtEveryDepth) {
  EXPECT_EQ(canonical_json(boost::json::parse(R"({"b":1,"a":{"d":[{"y":1,"x":2}],"c":null}})")),
            R"({"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1})");
}

TEST(CacheKey, TheOrderOfJsonKeysDoesNotMatter) {
  EXPECT_EQ(key_of(kBase),
            key_of(R"({"max_tokens":50,"temperature":0,"messages":[{"content":"be brief","role":"system"},{"content":"hi","role":"user"}],"model":"r"})"));
}

TEST(CacheKey, IsA32ByteDigest) { EXPECT_EQ(key_of(kBase).size(), 32u); }

TEST(CacheKey, EveryAnswerDeterminingFieldChangesTheKey) {
  const std::string base = key_of(kBase);
  const std::vector<std::string> variants = {
      // system prompt, messages
      R"({"model":"r","messages":[{"role":"system","content":"be long"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}],"temperature":0,"max_tokens":50})",
      // sampling, max_tokens
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":50})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":51})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"top_p":0.9})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"seed":7})",
      // stop, tools, tool_choice, response_format
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"stop":["\n"]})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"tools":[{"type":"function","function":{"name":"f"}}]})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"tool_choice":"none"})",
      R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"response_format":{"type":"json_object"}})",
  };
  for (const std::string& v : variants) EXPECT_NE(key_of(v), base) << v;
}

TEST(CacheKey, RouteNameAndConfigVersionChangeTheKey) {
  EXPECT_NE(key_of(kBase, "key_a", "v1", "r"), key_of(kBase, "key_a", "v1", "other"));
  EXPECT_NE(key_of(kBase, "key_a", "v1"), key_of(kBase, "key_a", "v2"));
}

TEST(CacheKey, DifferentClientKeysNeverShareAnEntry) {
  EXPECT_NE(key_of(kBase, "key_a"), key_of(kBase, "key_b"));
  EXPECT_NE(key_of(kBase, "key_a"), key_of(kBase, "anonymous"));
  // Length-prefixed parts: moving a character between scope and version is another key.
  EXPECT_NE(key_of(kBase, "ab", "c"), key_of(kBase, "a", "bc"));
}

TEST(CacheKey, StreamingAndBookkeepingFieldsDoNotChangeTheKey) {
  const std::string base = key_of(kBase);
  EXPECT_EQ(base, key_of(R"({"model":"r","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50,"stream":true,"stream_options":{"include_usage":true},"user":"u1","metadata":{"a":"b"}})"));
  // The body's `model` is replaced by the name the key is made for.
  EXPECT_EQ(base, key_of(R"({"model":"elsewhere","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":50})"));
}

TEST(CacheKey, SamplesUnlessTemperatureIsZero) {
  EXPECT_FALSE(samples(request(R"({"temperature":0})")));
  EXPECT_TRUE(samples(request(R"({"temperature":0.2})")));
  EXPECT_TRUE(samples(request(R"({})")));  // the providers' default samples
}

}  // namespace
}  // namespace triage::cache
