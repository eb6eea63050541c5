// The anthropic provider's request side: an OpenAI-shaped core::ChatRequest as a Messages API
// body. Text-only turns keep the plain-string form; a turn that carries images, tool calls or
// tool results becomes content blocks. What the Messages API cannot take is a 400 that names
// the message, never a silent drop.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <string>
#include <vector>

#include "providers/anthropic.h"

namespace triage::providers::anthropic {

namespace json = boost::json;

namespace {

// One Messages API turn: consecutive same-role messages merged.
struct Turn {
  std::string_view role;  // "user" | "assistant"
  json::array blocks;     // text blocks, then or among them image / tool_use / tool_result
};

std::string_view string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return v->get_string();
}

Error refuse(std::size_t index, const std::string& what) {
  return make_error(ErrorCode::kInvalidRequest,
                    "messages[" + std::to_string(index) + "]: " + what +
                        " cannot be sent to an Anthropic model");
}

json::object text_block(std::string_view text) {
  return json::object{{"type", "text"}, {"text", text}};
}

// An OpenAI image part's URL as an Anthropic image source: a base64 data URL keeps its bytes,
// anything else is passed by URL.
Result<json::object> image_block(const json::object& part, std::size_t index) {
  const json::value* image = part.if_contains("image_url");
  std::string_view url;
  if (image != nullptr && image->is_string()) url = image->get_string();
  if (image != nullptr && image->is_object()) url = string_at(image->get_object(), "url");
  if (url.empty()) return refuse(index, "an image part without a URL");
  if (url.rfind("data:", 0) == 0) {
    const std::size_t comma = url.find(',');
    const std::string_view head = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
    const std::size_t base64 = head.rfind(";base64");
    if (comma == std::string_view::npos || base64 == std::string_view::npos ||
        base64 + 7 != head.size()) {
      return refuse(index, "an image data URL that is not base64");
    }
    return json::object{{"type", "image"},
                        {"source", json::object{{"type", "base64"},
                                                {"media_type", head.substr(0, base64)},
                                                {"data", url.substr(comma + 1)}}}};
  }
  return json::object{{"type", "image"},
                      {"source", json::object{{"type", "url"}, {"url", url}}}};
}

// A user message's content parts in order: text parts as text blocks, image parts as images.
Result<void> user_blocks(const core::Message& m, std::size_t index, json::array& out) {
  const json::value* content =
      m.raw.is_object() ? m.raw.get_object().if_contains("content") : nullptr;
  bool text_only = true;
  if (content != nullptr && content->is_array()) {
    for (const json::value& p : content->get_array()) {
      if (p.is_object() && string_at(p.get_object(), "type") != "text") text_only = false;
    }
  }
  if (text_only) {  // the message's text as one block, as the client's parts joined it
    if (!m.text.empty()) out.push_back(text_block(m.text));
    return {};
  }
  for (const json::value& p : content->get_array()) {
    if (!p.is_object()) continue;
    const json::object& part = p.get_object();
    const std::string_view type = string_at(part, "type");
    if (type == "text") {
      if (!string_at(part, "text").empty()) out.push_back(text_block(string_at(part, "text")));
    } else if (type == "image_url") {
      Result<json::object> image = image_block(part, index);
      if (!image) return std::move(image).error();
      out.push_back(std::move(image).value());
    } else {
      return refuse(index, "a '" + std::string(type) + "' content part");
    }
  }
  return {};
}

// An assistant message: its text, then its tool calls as tool_use blocks.
Result<void> assistant_blocks(const core::Message& m, std::size_t index, json::array& out) {
  if (!m.text.empty()) out.push_back(text_block(m.text));
  const json::value* calls =
      m.raw.is_object() ? m.raw.get_object().if_contains("tool_calls") : nullptr;
  if (calls == nullptr || !calls->is_array()) return {};
  for (const json::value& c : calls->get_array()) {
    if (!c.is_object()) continue;
    const json::object& call = c.get_object();
    const json::value* fn = call.if_contains("function");
    if (fn == nullptr || !fn->is_object()) return refuse(index, "a tool call without a function");
    const std::string_view args = string_at(fn->get_object(), "arguments");
    json::value input = json::object();
    if (!args.empty()) {
      json::error_code ec;
      input = json::parse(args, ec);
      if (ec || !input.is_object()) {
        return refuse(index, "a tool call whose arguments are not a JSON object");
      }
    }
    out.push_back(json::object{{"type", "tool_use"},
                               {"id", string_at(call, "id")},
                               {"name", string_at(fn->get_object(), "name")},
                               {"input", std::move(input)}});
  }
  return {};
}

// A tool message: a tool_result for the call it answers (its text when it has no call id).
void tool_blocks(const core::Message& m, json::array& out) {
  const std::string_view call_id =
      m.raw.is_object() ? string_at(m.raw.get_object(), "tool_call_id") : std::string_view();
  if (call_id.empty()) {
    if (!m.text.empty()) out.push_back(text_block(m.text));
    return;
  }
  out.push_back(json::object{{"type", "tool_result"}, {"tool_use_id", call_id}, {"content", m.text}});
}

// Text-only blocks render as one string (joined by a blank line, as turns merge); nullopt
// when a block is not text.
std::optional<std::string> plain_text(const json::array& blocks) {
  std::string text;
  for (const json::value& b : blocks) {
    const json::object& block = b.get_object();
    if (string_at(block, "type") != "text") return std::nullopt;
    if (!text.empty()) text.append("\n\n");
    text.append(string_at(block, "text"));
  }
  return text;
}

// OpenAI function tools as Anthropic tools ({name, description, input_schema}).
Result<json::array> tools_of(const json::array& tools) {
  json::array out;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json::object* tool = tools[i].if_object();
    const json::value* fn = tool ? tool->if_contains("function") : nullptr;
    if (tool == nullptr || string_at(*tool, "type") != "function" || fn == nullptr ||
        !fn->is_object()) {
      return make_error(ErrorCode::kInvalidRequest,
                        "tools[" + std::to_string(i) +
                            "]: only function tools can be sent to an Anthropic model");
    }
    const json::object& f = fn->get_object();
    json::object t{{"name", string_at(f, "name")}};
    if (!string_at(f, "description").empty()) t["description"] = string_at(f, "description");
    const json::value* params = f.if_contains("parameters");
    t["input_schema"] = params != nullptr && params->is_object()
                            ? *params
                            : json::value(json::object{{"type", "object"}});
    out.push_back(std::move(t));
  }
  return out;
}

// OpenAI tool_choice (and parallel_tool_calls) as Anthropic's; null when neither is given.
json::value tool_choice_of(const json::object& body) {
  json::object choice;
  const json::value* c = body.if_contains("tool_choice");
  if (c != nullptr && c->is_string()) {
    const std::string_view mode = c->get_string();
    choice["type"] = mode == "required" ? "any" : mode == "none" ? "none" : "auto";
  } else if (c != nullptr && c->is_object()) {
    const json::value* fn = c->get_object().if_contains("function");
    choice["type"] = "tool";
    choice["name"] = fn != nullptr && fn->is_object() ? string_at(fn->get_object(), "name") : "";
  }
  const json::value* parallel = body.if_contains("parallel_tool_calls");
  if (parallel != nullptr && parallel->is_bool() && !parallel->get_bool()) {
    if (choice.empty()) choice["type"] = "auto";
    if (choice["type"] != "none") choice["disable_parallel_tool_use"] = true;
  }
  if (choice.empty()) return nullptr;
  return choice;
}

}  // namespace

Result<std::string> build_request_body(const core::ChatRequest& req, const config::Model& model,
                                       const AnthropicOptions& options, bool stream) {
  std::string system;
  std::vector<Turn> turns;
  turns.reserve(req.messages.size());
  for (std::size_t i = 0; i < req.messages.size(); ++i) {
    const core::Message& m = req.messages[i];
    if (m.role == "system" || m.role == "developer") {
      if (!system.empty()) system.append("\n\n");
      system.append(m.text);
      continue;
    }
    const std::string_view role = m.role == "assistant" ? "assistant" : "user";  // user, tool
    json::array blocks;
    if (m.role == "assistant") {
      if (Result<void> r = assistant_blocks(m, i, blocks); !r) return std::move(r).error();
    } else if (m.role == "tool") {
      tool_blocks(m, blocks);
    } else {
      if (Result<void> r = user_blocks(m, i, blocks); !r) return std::move(r).error();
    }
    if (blocks.empty()) continue;
    if (turns.empty() || turns.back().role != role) turns.push_back({role, {}});
    for (json::value& b : blocks) turns.back().blocks.push_back(std::move(b));
  }

  std::string out;
  out.reserve(256 + system.size() + 64 * turns.size());
  out.append("{\"model\":");
  append_json_string(out, model.upstream_model.empty() ? model.name : model.upstream_model);
  out.append(",\"max_tokens\":");
  out.append(std::to_string(req.max_tokens ? *req.max_tokens : options.default_max_tokens));
  if (!system.empty()) {
    out.append(",\"system\":");
    append_json_string(out, system);
  }
  out.append(",\"messages\":[");
  for (std::size_t i = 0; i < turns.size(); ++i) {
    if (i) out.push_back(',');
    out.append("{\"role\":\"").append(turns[i].role).append("\",\"content\":");
    if (std::optional<std::string> text = plain_text(turns[i].blocks)) {
      append_json_string(out, *text);
    } else {
      append_json(out, turns[i].blocks);
    }
    out.push_back('}');
  }
  out.push_back(']');
  if (const json::value* tools = req.body.if_contains("tools");
      tools != nullptr && tools->is_array() && !tools->get_array().empty()) {
    Result<json::array> translated = tools_of(tools->get_array());
    if (!translated) return std::move(translated).error();
    out.append(",\"tools\":");
    append_json(out, translated.value());
  }
  if (json::value choice = tool_choice_of(req.body); !choice.is_null()) {
    out.append(",\"tool_choice\":");
    append_json(out, choice);
  }
  if (req.temperature) {
    out.append(",\"temperature\":");
    append_json(out, json::value(*req.temperature));
  }
  if (req.top_p) {
    out.append(",\"top_p\":");
    append_json(out, json::value(*req.top_p));
  }
  if (!req.stop.empty()) {
    out.append(",\"stop_sequences\":[");
    for (std::size_t i = 0; i < req.stop.size(); ++i) {
      if (i) out.push_back(',');
      append_json_string(out, req.stop[i]);
    }
    out.push_back(']');
  }
  if (stream) out.append(",\"stream\":true");
  out.push_back('}');
  return out;
}

}  // namespace triage::providers::anthropic
