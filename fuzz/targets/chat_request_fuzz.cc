// The chat request reader (api::parse_chat_request) on arbitrary bodies. Invariants: it never
// throws; a refusal is an invalid-request error whose client-facing body is valid JSON; an
// accepted request has messages, and its body serializes back to JSON that parses.
#include <boost/json.hpp>
#include <cstdint>
#include <string_view>

#include "api/chat_request.h"
#include "api/errors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = boost::json;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = triage::api::parse_chat_request(body);
  if (!r.ok()) {
    FUZZ_CHECK(r.error().code == triage::ErrorCode::kInvalidRequest);
    FUZZ_CHECK(!r.error().message.empty());
    const auto http = triage::api::error_response(r.error());
    FUZZ_CHECK(http.status == 400);
    boost::system::error_code ec;
    const json::value v = json::parse(http.body, ec);
    FUZZ_CHECK(!ec && v.is_object() && v.as_object().contains("error"));
    return 0;
  }
  FUZZ_CHECK(!r->messages.empty());
  for (const auto& m : r->messages) FUZZ_CHECK(!m.role.empty());
  if (r->max_tokens) FUZZ_CHECK(*r->max_tokens >= 0);
  boost::system::error_code ec;
  (void)json::parse(json::serialize(r->body), ec);
  FUZZ_CHECK(!ec);
  (void)r->last_user_text();
  return 0;
}
