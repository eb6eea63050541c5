// The request translation: a client's OpenAI-shaped body, as the gateway reads it
// (api::parse_chat_request), translated to the Anthropic Messages API and to the upstream
// OpenAI body. Both translations must be JSON objects that parse, for every accepted request.
#include <boost/json.hpp>
#include <cstdint>
#include <string_view>

#include "api/chat_request.h"
#include "config/config.h"
#include "fuzz_check.h"
#include "providers/anthropic.h"
#include "providers/openai.h"

namespace {

void check_json_object(const std::string& text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(v.is_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = triage::api::parse_chat_request(body);
  if (!r.ok()) return 0;
  triage::config::Model model;
  model.name = "claude";
  model.provider = "anthropic";
  const triage::providers::AnthropicOptions options;  // the defaults: version, max_tokens
  for (const bool stream : {false, true}) {
    // What the Messages API cannot take is refused with a 400; anything else is a JSON object.
    const auto a = triage::providers::anthropic::build_request_body(*r, model, options, stream);
    if (a) {
      check_json_object(*a);
    } else {
      FUZZ_CHECK(a.error().code == triage::ErrorCode::kInvalidRequest);
    }
    const std::string o = triage::providers::openai::build_request_body(*r, "upstream-model", stream);
    check_json_object(o);
  }
  return 0;
}
