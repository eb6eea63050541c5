// Embeddings on the provider side: the default (a provider that cannot embed) and the reading
// of an OpenAI-compatible /embeddings answer.
#include <boost/json/parse.hpp>

#include "providers/openai.h"
#include "providers/provider.h"

namespace triage::providers {

namespace json = boost::json;

boost::asio::awaitable<Result<EmbeddingAnswer>> ModelClient::embed(const json::object& /*body*/,
                                                                   SteadyTime /*deadline*/,
                                                                   CallStats& /*stats*/,
                                                                   Cancellation* /*cancel*/) {
  co_return make_error(ErrorCode::kInvalidRequest,
                       "this model's provider does not serve embeddings; embedding models use "
                       "provider: openai (docs/api.md)",
                       {}, "model");
}

namespace openai {

Result<EmbeddingAnswer> parse_embeddings(std::string_view body) {
  auto malformed = [](std::string_view why) {
    return make_error(ErrorCode::kUpstreamError, "upstream returned an invalid response",
                      "embeddings answer " + std::string(why));
  };
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return malformed("is not JSON (" + ec.message() + ")");
  json::object* o = v.if_object();
  if (o == nullptr) return malformed("is not a JSON object");
  const json::value* data = o->if_contains("data");
  if (data == nullptr || !data->is_array()) return malformed("has no `data` array");
  EmbeddingAnswer answer;
  if (const json::object* usage = json_object_field(*o, "usage")) {
    answer.prompt_tokens = json_token_field(*usage, "prompt_tokens");
    answer.reported_usage = usage->contains("prompt_tokens");
  }
  answer.list = std::move(v);
  return answer;
}

}  // namespace openai
}  // namespace triage::providers
