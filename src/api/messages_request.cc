// Anthropic Messages request -> core::ChatRequest with an OpenAI chat-shaped body.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "api/json_read.h"
#include "api/messages.h"

namespace triage::api::messages {
namespace json = boost::json;

namespace {

// What one Anthropic message becomes: OpenAI messages (tool results are `tool` messages, which
// OpenAI wants right after the assistant turn that called them, so they come first).
struct Translated {
  std::vector<json::object> messages;
};

// The text of a tool_result's content (a string or text blocks).
Result<std::string> tool_result_text(const json::value* content, const std::string& base) {
  if (content == nullptr) return std::string();
  if (content->is_string()) return std::string(content->get_string());
  if (!content->is_array()) return expected_error(base, "a string or an array of blocks", *content);
  std::string text;
  const json::array& blocks = content->get_array();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string path = element_path(base, i);
    const json::object* b = blocks[i].if_object();
    if (b == nullptr) return expected_error(path, "an object", blocks[i]);
    auto type = required_string(*b, "type", path);
    if (!type) return std::move(type).error();
    if (*type != "text") {
      return invalid_field(
          path + ": a '" + std::string(*type) +
              "' block inside tool_result cannot be translated for an OpenAI-shaped "
              "model; send the tool's output as text",
          path + ".type");
    }
    auto t = required_string(*b, "text", path);
    if (!t) return std::move(t).error();
    append_line(text, *t);
  }
  return text;
}

// An image block -> an OpenAI image_url part.
Result<json::object> image_part(const json::object& b, const std::string& path) {
  const json::value* src = non_null_field(b, "source");
  if (src == nullptr) return required_error(path + ".source");
  if (!src->is_object()) return expected_error(path + ".source", "an object", *src);
  const json::object& s = src->get_object();
  auto type = required_string(s, "type", path + ".source");
  if (!type) return std::move(type).error();
  std::string url;
  if (*type == "base64") {
    auto media = required_string(s, "media_type", path + ".source");
    if (!media) return std::move(media).error();
    auto data = required_string(s, "data", path + ".source");
    if (!data) return std::move(data).error();
    url = "data:" + std::string(*media) + ";base64," + std::string(*data);
  } else if (*type == "url") {
    auto u = required_string(s, "url", path + ".source");
    if (!u) return std::move(u).error();
    url = std::string(*u);
  } else {
    return invalid_field(path + ".source.type: '" + std::string(*type) +
                             "' images cannot be translated; use 'base64' or 'url'",
                         path + ".source.type");
  }
  return json::object{{"type", "image_url"}, {"image_url", json::object{{"url", url}}}};
}

std::optional<Error> translate_user(const json::array& blocks, const std::string& base,
                                    Translated& out) {
  json::array parts;
  bool only_text = true;
  std::string text;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string path = element_path(base, i);
    const json::object* b = blocks[i].if_object();
    if (b == nullptr) return expected_error(path, "an object", blocks[i]);
    auto type = required_string(*b, "type", path);
    if (!type) return std::move(type).error();
    if (*type == "text") {
      auto t = required_string(*b, "text", path);
      if (!t) return std::move(t).error();
      append_line(text, *t);
      parts.push_back(json::object{{"type", "text"}, {"text", *t}});
    } else if (*type == "image") {
      auto part = image_part(*b, path);
      if (!part) return std::move(part).error();
      parts.push_back(std::move(part).value());
      only_text = false;
    } else if (*type == "tool_result") {
      auto id = required_string(*b, "tool_use_id", path);
      if (!id) return std::move(id).error();
      auto result = tool_result_text(non_null_field(*b, "content"), path + ".content");
      if (!result) return std::move(result).error();
      out.messages.push_back(
          json::object{{"role", "tool"}, {"tool_call_id", *id}, {"content", *result}});
    } else {
      return invalid_field(
          path + ".type: '" + std::string(*type) +
              "' blocks are not supported by Triage's /v1/messages; use text, image, "
              "tool_use or tool_result",
          path + ".type");
    }
  }
  if (!parts.empty()) {
    json::object m{{"role", "user"}};
    if (only_text) {
      m["content"] = text;
    } else {
      m["content"] = std::move(parts);
    }
    out.messages.push_back(std::move(m));
  }
  return std::nullopt;
}

std::optional<Error> translate_assistant(const json::array& blocks, const std::string& base,
                                         Translated& out) {
  std::string text;
  json::array tool_calls;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string path = element_path(base, i);
    const json::object* b = blocks[i].if_object();
    if (b == nullptr) return expected_error(path, "an object", blocks[i]);
    auto type = required_string(*b, "type", path);
    if (!type) return std::move(type).error();
    if (*type == "text") {
      auto t = required_string(*b, "text", path);
      if (!t) return std::move(t).error();
      text += *t;
    } else if (*type == "tool_use") {
      auto id = required_string(*b, "id", path);
      if (!id) return std::move(id).error();
      auto name = required_string(*b, "name", path);
      if (!name) return std::move(name).error();
      const json::value* input = non_null_field(*b, "input");
      std::string args = input ? json::serialize(*input) : std::string("{}");
      tool_calls.push_back(
          json::object{{"id", *id},
                       {"type", "function"},
                       {"function", json::object{{"name", *name}, {"arguments", args}}}});
    } else if (*type == "thinking" || *type == "redacted_thinking") {
      continue;  // earlier reasoning: OpenAI-shaped models take none back
    } else {
      return invalid_field(
          path + ".type: '" + std::string(*type) +
              "' blocks are not supported in assistant turns; use text or tool_use",
          path + ".type");
    }
  }
  json::object m{{"role", "assistant"}};
  if (text.empty() && !tool_calls.empty()) {
    m["content"] = nullptr;
  } else {
    m["content"] = text;
  }
  if (!tool_calls.empty()) m["tool_calls"] = std::move(tool_calls);
  out.messages.push_back(std::move(m));
  return std::nullopt;
}

std::optional<Error> translate_message(const json::value& v, std::size_t i, Translated& out) {
  const std::string base = element_path("messages", i);
  const json::object* o = v.if_object();
  if (o == nullptr) return expected_error(base, "an object", v);
  auto role = required_string(*o, "role", base);
  if (!role) return std::move(role).error();
  if (*role != "user" && *role != "assistant") {
    return invalid_field(base + ".role: expected 'user' or 'assistant', got '" +
                             std::string(*role) +
                             "' (a system prompt goes in the top-level 'system' field)",
                         base + ".role");
  }
  const json::value* content = non_null_field(*o, "content");
  if (content == nullptr) return required_error(base + ".content");
  if (content->is_string()) {
    out.messages.push_back(json::object{{"role", *role}, {"content", content->get_string()}});
    return std::nullopt;
  }
  if (!content->is_array()) {
    return expected_error(base + ".content", "a string or an array of content blocks", *content);
  }
  if (*role == "user") return translate_user(content->get_array(), base + ".content", out);
  return translate_assistant(content->get_array(), base + ".content", out);
}

Result<std::string> system_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (!v.is_array()) return expected_error("system", "a string or an array of text blocks", v);
  std::string text;
  const json::array& blocks = v.get_array();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string path = element_path("system", i);
    const json::object* b = blocks[i].if_object();
    if (b == nullptr) return expected_error(path, "an object", blocks[i]);
    auto type = required_string(*b, "type", path);
    if (!type) return std::move(type).error();
    if (*type != "text") return invalid_field(path + ".type: expected 'text'", path + ".type");
    auto t = required_string(*b, "text", path);
    if (!t) return std::move(t).error();
    append_line(text, *t);
  }
  return text;
}

Result<json::array> translate_tools(const json::value& v) {
  if (!v.is_array()) return expected_error("tools", "an array", v);
  json::array tools;
  const json::array& in = v.get_array();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string path = element_path("tools", i);
    const json::object* t = in[i].if_object();
    if (t == nullptr) return expected_error(path, "an object", in[i]);
    if (const json::value* type = non_null_field(*t, "type");
        type != nullptr && !(type->is_string() && type->get_string() == "custom")) {
      return invalid_field(
          path + ".type: server tools ('" +
              (type->is_string() ? std::string(type->get_string()) : std::string()) +
              "') are not supported by Triage; declare client tools with name, "
              "description and input_schema",
          path + ".type");
    }
    auto name = required_string(*t, "name", path);
    if (!name) return std::move(name).error();
    const json::value* schema = non_null_field(*t, "input_schema");
    if (schema == nullptr) return required_error(path + ".input_schema");
    if (!schema->is_object()) return expected_error(path + ".input_schema", "an object", *schema);
    json::object fn{{"name", *name}, {"parameters", *schema}};
    if (const json::value* d = non_null_field(*t, "description"); d != nullptr && d->is_string()) {
      fn["description"] = *d;
    }
    tools.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
  }
  return tools;
}

// tool_choice -> (OpenAI tool_choice, parallel_tool_calls or null).
std::optional<Error> translate_tool_choice(const json::value& v, json::object& body) {
  if (!v.is_object()) return expected_error("tool_choice", "an object", v);
  const json::object& o = v.get_object();
  auto type = required_string(o, "type", "tool_choice");
  if (!type) return std::move(type).error();
  if (*type == "auto") {
    body["tool_choice"] = "auto";
  } else if (*type == "any") {
    body["tool_choice"] = "required";
  } else if (*type == "none") {
    body["tool_choice"] = "none";
  } else if (*type == "tool") {
    auto name = required_string(o, "name", "tool_choice");
    if (!name) return std::move(name).error();
    body["tool_choice"] =
        json::object{{"type", "function"}, {"function", json::object{{"name", *name}}}};
  } else {
    return invalid_field("tool_choice.type: expected one of 'auto', 'any', 'tool', 'none'",
                         "tool_choice.type");
  }
  if (const json::value* d = non_null_field(o, "disable_parallel_tool_use");
      d != nullptr && d->is_bool()) {
    if (d->get_bool()) body["parallel_tool_calls"] = false;
  }
  return std::nullopt;
}

Result<std::optional<double>> bounded(const json::object& o, std::string_view key, double hi) {
  const json::value* v = non_null_field(o, key);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return expected_error(std::string(key), "a number", *v);
  const double d = v->to_number<double>();
  if (!(d >= 0.0 && d <= hi)) {
    return invalid_field(std::string(key) + ": must be between 0 and " + (hi == 1.0 ? "1" : "2"),
                         std::string(key));
  }
  return std::optional<double>(d);
}

// Fields an OpenAI-shaped model has no way to honour: refused rather than silently dropped.
constexpr std::string_view kRefused[] = {"thinking", "container", "mcp_servers"};

}  // namespace

Result<core::ChatRequest> parse_request(std::string_view body) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value root = json::parse(body, ec, {}, opts);
  if (ec) {
    return invalid_field("the request body is not valid JSON (" + ec.message() + ")", {});
  }
  if (!root.is_object()) return invalid_field("the request body must be a JSON object", {});
  const json::object& o = root.get_object();
  for (std::string_view key : kRefused) {
    if (non_null_field(o, key) != nullptr) {
      return invalid_field(std::string(key) +
                               ": not supported by Triage's /v1/messages (the request "
                               "may be served by any provider); remove it",
                           std::string(key));
    }
  }

  core::ChatRequest req;
  json::object out;
  const json::value* model = non_null_field(o, "model");
  if (model == nullptr) return required_error("model");
  if (!model->is_string()) return expected_error("model", "a string", *model);
  if (model->get_string().empty()) return invalid_field("model: must not be empty", "model");
  req.model = std::string(model->get_string());
  out["model"] = req.model;

  const json::value* max_tokens = non_null_field(o, "max_tokens");
  if (max_tokens == nullptr) return required_error("max_tokens");
  if (!max_tokens->is_int64()) return expected_error("max_tokens", "an integer", *max_tokens);
  if (max_tokens->get_int64() < 1)
    return invalid_field("max_tokens: must be at least 1", "max_tokens");
  req.max_tokens = max_tokens->get_int64();
  out["max_tokens"] = *req.max_tokens;

  Translated turns;
  if (const json::value* system = non_null_field(o, "system")) {
    auto text = system_text(*system);
    if (!text) return std::move(text).error();
    if (!text->empty())
      turns.messages.push_back(json::object{{"role", "system"}, {"content", *text}});
  }
  const json::value* messages = non_null_field(o, "messages");
  if (messages == nullptr) return required_error("messages");
  if (!messages->is_array()) return expected_error("messages", "an array", *messages);
  if (messages->get_array().empty()) {
    return invalid_field("messages: at least one message is required", "messages");
  }
  for (std::size_t i = 0; i < messages->get_array().size(); ++i) {
    if (auto err = translate_message(messages->get_array()[i], i, turns)) return std::move(*err);
  }
  json::array& out_messages = out["messages"].emplace_array();
  for (json::object& m : turns.messages) {
    core::Message cm;
    cm.role = std::string(m["role"].get_string());
    if (const json::value& c = m["content"]; c.is_string()) {
      cm.text = std::string(c.get_string());
    } else if (c.is_array()) {
      for (const json::value& part : c.get_array()) {
        if (const json::value* t = part.get_object().if_contains("text")) {
          append_line(cm.text, t->get_string());
        }
      }
    }
    cm.raw = m;
    req.messages.push_back(std::move(cm));
    out_messages.push_back(std::move(m));
  }

  if (const json::value* s = non_null_field(o, "stream")) {
    if (!s->is_bool()) return expected_error("stream", "a boolean", *s);
    req.stream = s->get_bool();
    // The closing message_delta reports usage: ask the upstream for it.
    req.include_usage = req.stream;
    out["stream"] = req.stream;
  }
  auto temperature = bounded(o, "temperature", 1.0);
  if (!temperature) return std::move(temperature).error();
  req.temperature = *temperature;
  if (req.temperature) out["temperature"] = *req.temperature;
  auto top_p = bounded(o, "top_p", 1.0);
  if (!top_p) return std::move(top_p).error();
  req.top_p = *top_p;
  if (req.top_p) out["top_p"] = *req.top_p;

  if (const json::value* stop = non_null_field(o, "stop_sequences")) {
    if (!stop->is_array()) return expected_error("stop_sequences", "an array of strings", *stop);
    json::array& out_stop = out["stop"].emplace_array();
    for (std::size_t i = 0; i < stop->get_array().size(); ++i) {
      const json::value& s = stop->get_array()[i];
      if (!s.is_string()) return expected_error(element_path("stop_sequences", i), "a string", s);
      req.stop.emplace_back(s.get_string());
      out_stop.push_back(s);
    }
  }
  if (const json::value* tools = non_null_field(o, "tools")) {
    auto translated = translate_tools(*tools);
    if (!translated) return std::move(translated).error();
    if (!translated->empty()) out["tools"] = std::move(translated).value();
  }
  if (const json::value* choice = non_null_field(o, "tool_choice")) {
    if (auto err = translate_tool_choice(*choice, out)) return std::move(*err);
  }
  if (const json::value* md = non_null_field(o, "metadata")) {
    if (!md->is_object()) return expected_error("metadata", "an object", *md);
    if (const json::value* uid = non_null_field(md->get_object(), "user_id")) {
      if (!uid->is_string()) return expected_error("metadata.user_id", "a string", *uid);
      req.meta.user = std::string(uid->get_string());
      out["user"] = *uid;
    }
    if (const json::value* cat = non_null_field(md->get_object(), "category");
        cat && cat->is_string()) {
      req.meta.category = std::string(cat->get_string());
    }
  }
  // top_k has no OpenAI equivalent; it is dropped (docs/api.md).
  req.body = std::move(out);
  return req;
}

}  // namespace triage::api::messages
