#pragma once
// POST /v1/embeddings: the request as the OpenAI API takes it (string or array of strings;
// token arrays refused), passed through to an embedding model's OpenAI-compatible upstream,
// and the upstream's list object passed back. Thread-safe, no shared state.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat_response.h"
#include "common/result.h"

namespace triage::api {

struct EmbeddingsRequest {
  std::string model;         // a catalog model of kind: embedding
  boost::json::object body;  // as sent: input, encoding_format, dimensions, user...
  std::vector<std::string> texts;  // the inputs, for token estimates when the upstream reports none
  std::string user;
  std::string category;  // metadata.category is not an embeddings field: x-triage-category only
};

// Validates `body` the way the OpenAI API does: model; input a non-empty string or a non-empty
// array of strings (token id arrays are refused: a gateway in front of several tokenizers
// cannot count or bound them); encoding_format "float" | "base64"; dimensions >= 1; user a
// string. kInvalidRequest naming the field otherwise.
Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body);

// The answer: the upstream's list object with `model` = the catalog model, plus "triage".
std::string serialize_embeddings(boost::json::value list, std::string_view model,
                                 const TriageInfo& triage);

}  // namespace triage::api
