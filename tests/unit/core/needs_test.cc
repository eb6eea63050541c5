#include "core/needs.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "core/tokens.h"
#include "core/trace.h"

namespace triage::core {
namespace {

ChatRequest parsed(const std::string& body) {
  ChatRequest r;
  r.body = boost::json::parse(body).as_object();
  for (const auto& m : r.body.at("messages").as_array()) {
    Message msg;
    msg.role = std::string(m.at("role").as_string());
    if (m.at("content").is_string()) msg.text = std::string(m.at("content").as_string());
    msg.raw = m;
    r.messages.push_back(std::move(msg));
  }
  return r;
}

TEST(Needs, PlainTextNeedsOnlyContext) {
  ChatRequest r = parsed(R"({"messages":[{"role":"user","content":"how are you today"}]})");
  r.max_tokens = 100;
  const RequestNeeds n = needs_of(r);
  EXPECT_EQ(n.prompt_tokens, estimate_tokens("how are you today"));
  EXPECT_EQ(n.context_tokens(), n.prompt_tokens + 100);
  EXPECT_FALSE(n.tools);
  EXPECT_FALSE(n.images);
  EXPECT_FALSE(n.json_schema);
}

TEST(Needs, ToolsImagesAndJsonSchemaAreRead) {
  const RequestNeeds n = needs_of(parsed(R"({"messages":[{"role":"user","content":[
      {"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:x"}}]}],
      "tools":[{"type":"function","function":{"name":"f"}}],
      "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{}}}})"));
  EXPECT_TRUE(n.tools);
  EXPECT_TRUE(n.images);
  EXPECT_TRUE(n.json_schema);
}

TEST(Needs, EmptyToolsAndJsonObjectAreNotNeeds) {
  const RequestNeeds n = needs_of(parsed(
      R"({"messages":[{"role":"user","content":"x"}],"tools":[],"response_format":{"type":"json_object"}})"));
  EXPECT_FALSE(n.tools);
  EXPECT_FALSE(n.json_schema);
}

TEST(SkipReason, RendersCompactly) {
  EXPECT_EQ(skip_reason_text({SkipKind::kContext, 12000, 8000}), "context 12k > 8k");
  EXPECT_EQ(skip_reason_text({SkipKind::kContext, 8300, 8192}), "context 8300 > 8192");
  EXPECT_EQ(skip_reason_text({SkipKind::kMaxOutput, 8000, 4096}), "max_output 8000 > 4096");
  EXPECT_EQ(skip_reason_text({SkipKind::kTools}), "tools");
  EXPECT_EQ(skip_reason_text({SkipKind::kImages}), "images");
  EXPECT_EQ(skip_reason_text({SkipKind::kJsonSchema}), "json_schema");
}

}  // namespace
}  // namespace triage::core
