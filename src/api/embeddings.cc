#include "api/embeddings.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/json_read.h"
#include "api/json_write.h"

namespace triage::api {

namespace json = boost::json;

namespace {

constexpr std::string_view kNoTokenArrays =
    ": token id arrays are not supported by Triage (it cannot count or bound tokens of every "
    "upstream's tokenizer); send the text";

std::optional<Error> read_input(const json::value& input, EmbeddingsRequest& req) {
  if (input.is_string()) {
    if (input.get_string().empty()) return invalid_field("input: must not be empty", "input");
    req.texts.emplace_back(input.get_string());
    return std::nullopt;
  }
  if (!input.is_array()) return expected_error("input", "a string or an array of strings", input);
  const json::array& items = input.get_array();
  if (items.empty()) return invalid_field("input: at least one input is required", "input");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string path = "input[" + std::to_string(i) + "]";
    if (items[i].is_number() || items[i].is_array()) {
      return invalid_field(path + std::string(kNoTokenArrays), path);
    }
    if (!items[i].is_string()) return expected_error(path, "a string", items[i]);
    if (items[i].get_string().empty()) return invalid_field(path + ": must not be empty", path);
    req.texts.emplace_back(items[i].get_string());
  }
  return std::nullopt;
}

}  // namespace

Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  json::value root = json::parse(body, ec, {}, opts);
  if (ec) return invalid_field("the request body is not valid JSON (" + ec.message() + ")", {});
  if (!root.is_object()) return invalid_field("the request body must be a JSON object", {});
  EmbeddingsRequest req;
  req.body = std::move(root.get_object());
  const json::object& o = req.body;

  const json::value* model = o.if_contains("model");
  if (model == nullptr || model->is_null()) return invalid_field("model: field required", "model");
  if (!model->is_string()) return expected_error("model", "a string", *model);
  if (model->get_string().empty()) return invalid_field("model: must not be empty", "model");
  req.model = std::string(model->get_string());

  const json::value* input = o.if_contains("input");
  if (input == nullptr || input->is_null()) return invalid_field("input: field required", "input");
  if (auto err = read_input(*input, req)) return std::move(*err);

  if (const json::value* f = o.if_contains("encoding_format"); f && !f->is_null()) {
    if (!f->is_string() || (f->get_string() != "float" && f->get_string() != "base64")) {
      return invalid_field("encoding_format: expected 'float' or 'base64'", "encoding_format");
    }
  }
  if (const json::value* d = o.if_contains("dimensions"); d && !d->is_null()) {
    if (!d->is_int64()) return expected_error("dimensions", "an integer", *d);
    if (d->get_int64() < 1) return invalid_field("dimensions: must be at least 1", "dimensions");
  }
  if (const json::value* u = o.if_contains("user"); u && !u->is_null()) {
    if (!u->is_string()) return expected_error("user", "a string", *u);
    req.user = std::string(u->get_string());
  }
  return req;
}

std::string serialize_embeddings(json::value list, std::string_view model,
                                 const TriageInfo& triage) {
  if (json::object* o = list.if_object()) {
    (*o)["model"] = model;
    o->erase("triage");
  }
  std::string out = json::serialize(list);
  // The extension object, appended inside the top-level object without re-serializing.
  if (!out.empty() && out.back() == '}') {
    out.pop_back();
    out += out.back() == '{' ? R"("triage":)" : R"(,"triage":)";
    append_triage_object(out, triage);
    out += '}';
  }
  return out;
}

}  // namespace triage::api
