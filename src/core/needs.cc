#include "core/needs.h"

#include "core/tokens.h"

namespace triage::core {

namespace {

bool non_empty_array(const boost::json::object& body, std::string_view key) {
  const boost::json::value* v = body.if_contains(key);
  return v && v->is_array() && !v->get_array().empty();
}

// OpenAI `image_url` parts; `image` (Anthropic-shaped parts kept verbatim) counts too.
bool has_image_part(const boost::json::value& raw) {
  const boost::json::object* msg = raw.if_object();
  if (!msg) return false;
  const boost::json::value* content = msg->if_contains("content");
  if (!content || !content->is_array()) return false;
  for (const boost::json::value& part : content->get_array()) {
    const boost::json::object* p = part.if_object();
    if (!p) continue;
    const boost::json::value* type = p->if_contains("type");
    if (type && type->is_string() && (type->get_string() == "image_url" ||
                                      type->get_string() == "image" ||
                                      type->get_string() == "input_image")) {
      return true;
    }
  }
  return false;
}

}  // namespace

RequestNeeds needs_of(const ChatRequest& req) {
  RequestNeeds n;
  for (const Message& m : req.messages) {
    n.prompt_tokens += estimate_tokens(m.text);
    if (!n.images && has_image_part(m.raw)) n.images = true;
  }
  n.max_tokens = req.max_tokens.value_or(0);
  n.tools = non_empty_array(req.body, "tools") || non_empty_array(req.body, "functions");
  if (const boost::json::value* rf = req.body.if_contains("response_format")) {
    if (const boost::json::object* o = rf->if_object()) {
      const boost::json::value* type = o->if_contains("type");
      n.json_schema = type && type->is_string() && type->get_string() == "json_schema";
    }
  }
  return n;
}

}  // namespace triage::core
