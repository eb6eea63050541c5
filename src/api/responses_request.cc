// OpenAI Responses request -> core::ChatRequest with a chat.completions-shaped body.
#include <boost/json/parse.hpp>

#include "api/json_read.h"
#include "api/responses.h"

namespace triage::api::responses {
namespace json = boost::json;

namespace {

// The chat messages the input items become, in order. Consecutive function_call items (and
// the assistant text right before them) form one assistant message with tool_calls, as chat
// wants; function_call_output items are `tool` messages.
class Turns {
 public:
  void add(json::object m) {
    messages_.push_back(std::move(m));
    open_assistant_ = false;
  }
  void add_assistant_text(std::string text) {
    messages_.push_back(json::object{{"role", "assistant"}, {"content", std::move(text)}});
    open_assistant_ = true;
  }
  void add_tool_call(std::string_view call_id, std::string_view name, std::string_view args) {
    if (!open_assistant_) {
      messages_.push_back(json::object{{"role", "assistant"}, {"content", nullptr}});
      open_assistant_ = true;
    }
    json::value& calls = messages_.back().as_object()["tool_calls"];
    if (!calls.is_array()) calls.emplace_array();
    calls.as_array().push_back(
        json::object{{"id", call_id},
                     {"type", "function"},
                     {"function", json::object{{"name", name}, {"arguments", args}}}});
  }
  json::array& messages() { return messages_; }

 private:
  json::array messages_;
  bool open_assistant_ = false;  // the last message is an assistant turn tool calls may join
};

// An input_image part -> an OpenAI image_url part.
Result<json::object> image_part(const json::object& part, const std::string& path) {
  if (non_null_field(part, "file_id") != nullptr) {
    return invalid_field(path +
                             ".file_id: uploaded files are not supported by Triage (it is "
                             "stateless); send the image as image_url (https or data URL)",
                         path + ".file_id");
  }
  auto url = required_string(part, "image_url", path);
  if (!url) return std::move(url).error();
  json::object image{{"url", *url}};
  if (const json::value* detail = non_null_field(part, "detail"); detail && detail->is_string()) {
    image["detail"] = *detail;
  }
  return json::object{{"type", "image_url"}, {"image_url", std::move(image)}};
}

// A message item's content: a string, or input_text / input_image parts (user, system,
// developer) or output_text / refusal parts (assistant history).
std::optional<Error> translate_message(const json::object& item, const std::string& path,
                                       Turns& turns) {
  auto role = required_string(item, "role", path);
  if (!role) return std::move(role).error();
  if (*role != "user" && *role != "assistant" && *role != "system" && *role != "developer") {
    return invalid_field(path +
                             ".role: expected 'user', 'assistant', 'system' or 'developer', "
                             "got '" +
                             std::string(*role) + "'",
                         path + ".role");
  }
  const json::value* content = non_null_field(item, "content");
  if (content == nullptr) return required_error(path + ".content");
  if (content->is_string()) {
    if (*role == "assistant") {
      turns.add_assistant_text(std::string(content->get_string()));
    } else {
      turns.add(json::object{{"role", *role}, {"content", content->get_string()}});
    }
    return std::nullopt;
  }
  if (!content->is_array()) {
    return expected_error(path + ".content", "a string or an array of content parts", *content);
  }
  std::string text;
  json::array parts;
  bool only_text = true;
  const json::array& in = content->get_array();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string part_path = element_path(path + ".content", i);
    const json::object* part = in[i].if_object();
    if (part == nullptr) return expected_error(part_path, "an object", in[i]);
    auto type = required_string(*part, "type", part_path);
    if (!type) return std::move(type).error();
    const bool text_part = *role == "assistant" ? (*type == "output_text" || *type == "refusal")
                                                : *type == "input_text";
    if (text_part) {
      auto t = required_string(*part, *type == "refusal" ? "refusal" : "text", part_path);
      if (!t) return std::move(t).error();
      append_line(text, *t);
      parts.push_back(json::object{{"type", "text"}, {"text", *t}});
    } else if (*type == "input_image" && *role == "user") {
      auto image = image_part(*part, part_path);
      if (!image) return std::move(image).error();
      parts.push_back(std::move(image).value());
      only_text = false;
    } else {
      const std::string expected = *role == "assistant" ? "output_text or refusal"
                                   : *role == "user"    ? "input_text or input_image"
                                                        : "input_text";
      return invalid_field(part_path + ".type: '" + std::string(*type) +
                               "' parts are not supported by Triage's /v1/responses in " +
                               std::string(*role) + " messages; use " + expected,
                           part_path + ".type");
    }
  }
  if (*role == "assistant") {
    turns.add_assistant_text(std::move(text));
  } else if (only_text) {
    turns.add(json::object{{"role", *role}, {"content", std::move(text)}});
  } else {
    turns.add(json::object{{"role", *role}, {"content", std::move(parts)}});
  }
  return std::nullopt;
}

// A function_call_output's `output`: a string, or input_text parts.
Result<std::string> call_output_text(const json::object& item, const std::string& path) {
  const json::value* output = non_null_field(item, "output");
  if (output == nullptr) return required_error(path + ".output");
  if (output->is_string()) return std::string(output->get_string());
  if (!output->is_array()) return expected_error(path + ".output", "a string or an array", *output);
  std::string text;
  const json::array& parts = output->get_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string part_path = element_path(path + ".output", i);
    const json::object* part = parts[i].if_object();
    if (part == nullptr) return expected_error(part_path, "an object", parts[i]);
    auto type = required_string(*part, "type", part_path);
    if (!type) return std::move(type).error();
    if (*type != "input_text") {
      return invalid_field(part_path +
                               ".type: only input_text output can be passed on to "
                               "every provider; send the tool's output as text",
                           part_path + ".type");
    }
    auto t = required_string(*part, "text", part_path);
    if (!t) return std::move(t).error();
    append_line(text, *t);
  }
  return text;
}

std::optional<Error> translate_item(const json::value& v, std::size_t i, Turns& turns) {
  const std::string path = element_path("input", i);
  const json::object* item = v.if_object();
  if (item == nullptr) return expected_error(path, "an object", v);
  std::string_view type = "message";  // an EasyInputMessage has no type
  if (const json::value* t = non_null_field(*item, "type")) {
    if (!t->is_string()) return expected_error(path + ".type", "a string", *t);
    type = t->get_string();
  }
  if (type == "message") return translate_message(*item, path, turns);
  if (type == "function_call") {
    auto call_id = required_string(*item, "call_id", path);
    if (!call_id) return std::move(call_id).error();
    auto name = required_string(*item, "name", path);
    if (!name) return std::move(name).error();
    auto args = required_string(*item, "arguments", path);
    if (!args) return std::move(args).error();
    turns.add_tool_call(*call_id, *name, *args);
    return std::nullopt;
  }
  if (type == "function_call_output") {
    auto call_id = required_string(*item, "call_id", path);
    if (!call_id) return std::move(call_id).error();
    auto output = call_output_text(*item, path);
    if (!output) return std::move(output).error();
    turns.add(json::object{{"role", "tool"}, {"tool_call_id", *call_id}, {"content", *output}});
    return std::nullopt;
  }
  if (type == "reasoning") return std::nullopt;  // earlier reasoning: chat models take none back
  if (type == "item_reference") {
    return invalid_field(path +
                             ".type: item_reference needs stored items; Triage is stateless "
                             "here, so send the items themselves",
                         path + ".type");
  }
  return invalid_field(path + ".type: '" + std::string(type) +
                           "' items are not supported by Triage's /v1/responses; use message, "
                           "function_call or function_call_output",
                       path + ".type");
}

Result<json::array> translate_tools(const json::value& v) {
  if (!v.is_array()) return expected_error("tools", "an array", v);
  json::array tools;
  const json::array& in = v.get_array();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string path = element_path("tools", i);
    const json::object* t = in[i].if_object();
    if (t == nullptr) return expected_error(path, "an object", in[i]);
    auto type = required_string(*t, "type", path);
    if (!type) return std::move(type).error();
    if (*type != "function") {
      return invalid_field(path + ".type: built-in tool '" + std::string(*type) +
                               "' is not supported by Triage (the request may be served by any "
                               "provider); declare function tools and run the tool yourself",
                           path + ".type");
    }
    auto name = required_string(*t, "name", path);
    if (!name) return std::move(name).error();
    json::object fn{{"name", *name}};
    if (const json::value* d = non_null_field(*t, "description")) {
      if (!d->is_string()) return expected_error(path + ".description", "a string", *d);
      fn["description"] = *d;
    }
    if (const json::value* p = non_null_field(*t, "parameters")) {
      if (!p->is_object()) return expected_error(path + ".parameters", "an object", *p);
      fn["parameters"] = *p;
    }
    if (const json::value* s = non_null_field(*t, "strict")) {
      if (!s->is_bool()) return expected_error(path + ".strict", "a boolean", *s);
      fn["strict"] = *s;
    }
    tools.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
  }
  return tools;
}

Result<json::value> translate_tool_choice(const json::value& v) {
  if (v.is_string()) {
    const std::string_view s = v.get_string();
    if (s == "auto" || s == "none" || s == "required") return json::value(s);
    return invalid_field("tool_choice: expected 'auto', 'none', 'required' or a function",
                         "tool_choice");
  }
  if (!v.is_object()) return expected_error("tool_choice", "a string or an object", v);
  auto type = required_string(v.get_object(), "type", "tool_choice");
  if (!type) return std::move(type).error();
  if (*type != "function") {
    return invalid_field("tool_choice.type: '" + std::string(*type) +
                             "' names a built-in tool, which Triage does not support; use "
                             "{\"type\":\"function\",\"name\":...}",
                         "tool_choice.type");
  }
  auto name = required_string(v.get_object(), "name", "tool_choice");
  if (!name) return std::move(name).error();
  return json::value(
      json::object{{"type", "function"}, {"function", json::object{{"name", *name}}}});
}

// text.format -> response_format (nothing for plain text).
std::optional<Error> translate_text(const json::value& v, json::object& body) {
  if (!v.is_object()) return expected_error("text", "an object", v);
  const json::value* format = non_null_field(v.get_object(), "format");
  if (format == nullptr) return std::nullopt;
  if (!format->is_object()) return expected_error("text.format", "an object", *format);
  const json::object& f = format->get_object();
  auto type = required_string(f, "type", "text.format");
  if (!type) return std::move(type).error();
  if (*type == "text") return std::nullopt;
  if (*type == "json_object") {
    body["response_format"] = json::object{{"type", "json_object"}};
    return std::nullopt;
  }
  if (*type != "json_schema") {
    return invalid_field("text.format.type: expected 'text', 'json_schema' or 'json_object'",
                         "text.format.type");
  }
  auto name = required_string(f, "name", "text.format");
  if (!name) return std::move(name).error();
  const json::value* schema = non_null_field(f, "schema");
  if (schema == nullptr) return required_error("text.format.schema");
  if (!schema->is_object()) return expected_error("text.format.schema", "an object", *schema);
  json::object js{{"name", *name}, {"schema", *schema}};
  if (const json::value* s = non_null_field(f, "strict"); s && s->is_bool()) js["strict"] = *s;
  if (const json::value* d = non_null_field(f, "description"); d && d->is_string())
    js["description"] = *d;
  body["response_format"] = json::object{{"type", "json_schema"}, {"json_schema", std::move(js)}};
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

// What needs state Triage does not keep: refused, never silently dropped.
std::optional<Error> refuse_stateful(const json::object& o) {
  constexpr std::string_view kTail =
      ": Triage is stateless here (it keeps no responses or conversations); send the whole "
      "conversation in 'input' instead";
  for (std::string_view key : {"previous_response_id", "conversation", "prompt"}) {
    if (non_null_field(o, key) != nullptr) {
      return invalid_field(std::string(key) + " is not supported" + std::string(kTail),
                           std::string(key));
    }
  }
  if (const json::value* s = non_null_field(o, "store"); s && !(s->is_bool() && !s->get_bool())) {
    return invalid_field("store: only false is supported" + std::string(kTail), "store");
  }
  if (const json::value* b = non_null_field(o, "background");
      b && !(b->is_bool() && !b->get_bool())) {
    return invalid_field("background: only false is supported" + std::string(kTail), "background");
  }
  return std::nullopt;
}

// `input` -> chat messages after the instructions.
std::optional<Error> translate_input(const json::value& input, Turns& turns) {
  if (input.is_string()) {
    turns.add(json::object{{"role", "user"}, {"content", input.get_string()}});
    return std::nullopt;
  }
  if (!input.is_array()) return expected_error("input", "a string or an array of items", input);
  if (input.get_array().empty()) {
    return invalid_field("input: at least one item is required", "input");
  }
  for (std::size_t i = 0; i < input.get_array().size(); ++i) {
    if (auto err = translate_item(input.get_array()[i], i, turns)) return err;
  }
  return std::nullopt;
}

// The typed messages of the translated chat messages (what rules and classifiers read).
void fill_messages(core::ChatRequest& req, const json::array& messages) {
  for (const json::value& v : messages) {
    const json::object& m = v.get_object();
    core::Message cm;
    cm.role = std::string(m.at("role").get_string());
    if (const json::value& c = m.at("content"); c.is_string()) {
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
  }
}

// Sampling, limits and the fields passed on unchanged.
std::optional<Error> translate_options(const json::object& o, core::ChatRequest& req,
                                       json::object& out) {
  if (const json::value* max = non_null_field(o, "max_output_tokens")) {
    if (!max->is_int64()) return expected_error("max_output_tokens", "an integer", *max);
    if (max->get_int64() < 1) {
      return invalid_field("max_output_tokens: must be at least 1", "max_output_tokens");
    }
    req.max_tokens = max->get_int64();
    out["max_tokens"] = *req.max_tokens;
  }
  auto temperature = bounded(o, "temperature", 2.0);
  if (!temperature) return std::move(temperature).error();
  req.temperature = *temperature;
  if (req.temperature) out["temperature"] = *req.temperature;
  auto top_p = bounded(o, "top_p", 1.0);
  if (!top_p) return std::move(top_p).error();
  req.top_p = *top_p;
  if (req.top_p) out["top_p"] = *req.top_p;
  if (const json::value* s = non_null_field(o, "stream")) {
    if (!s->is_bool()) return expected_error("stream", "a boolean", *s);
    req.stream = s->get_bool();
    req.include_usage = req.stream;  // response.completed reports usage
    out["stream"] = req.stream;
  }
  if (const json::value* p = non_null_field(o, "parallel_tool_calls")) {
    if (!p->is_bool()) return expected_error("parallel_tool_calls", "a boolean", *p);
    out["parallel_tool_calls"] = *p;
  }
  if (const json::value* u = non_null_field(o, "user")) {
    if (!u->is_string()) return expected_error("user", "a string", *u);
    req.meta.user = std::string(u->get_string());
    out["user"] = *u;
  }
  if (const json::value* r = non_null_field(o, "reasoning")) {
    if (!r->is_object()) return expected_error("reasoning", "an object", *r);
    if (const json::value* e = non_null_field(r->get_object(), "effort"); e && e->is_string()) {
      out["reasoning_effort"] = *e;
    }
  }
  for (std::string_view key : {"service_tier", "safety_identifier", "prompt_cache_key"}) {
    if (const json::value* v = non_null_field(o, key)) out[key] = *v;
  }
  if (const json::value* md = non_null_field(o, "metadata")) {
    if (!md->is_object()) return expected_error("metadata", "an object", *md);
    for (const auto& kv : md->get_object()) {
      if (!kv.value().is_string()) {
        return expected_error("metadata." + std::string(kv.key()), "a string", kv.value());
      }
    }
    if (const json::value* cat = non_null_field(md->get_object(), "category")) {
      req.meta.category = std::string(cat->get_string());
    }
  }
  return std::nullopt;
}

// The request fields a Response object repeats back.
json::object echo_fields(const json::object& o) {
  json::object echo;
  for (std::string_view key :
       {"instructions", "metadata", "tools", "tool_choice", "text", "max_output_tokens",
        "temperature", "top_p", "parallel_tool_calls", "user", "reasoning", "service_tier"}) {
    if (const json::value* v = non_null_field(o, key)) echo[key] = *v;
  }
  return echo;
}

}  // namespace

Result<core::ChatRequest> parse_request(std::string_view body) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value root = json::parse(body, ec, {}, opts);
  if (ec) return invalid_field("the request body is not valid JSON (" + ec.message() + ")", {});
  if (!root.is_object()) return invalid_field("the request body must be a JSON object", {});
  const json::object& o = root.get_object();
  if (auto err = refuse_stateful(o)) return std::move(*err);
  if (const json::value* n = non_null_field(o, "max_tool_calls")) {
    (void)n;
    return invalid_field(
        "max_tool_calls is not supported by Triage's /v1/responses (chat-shaped "
        "providers cannot bound it); remove it",
        "max_tool_calls");
  }

  core::ChatRequest req;
  json::object out;
  auto model = required_string(o, "model", "");
  if (!model) return std::move(model).error();
  if (model->empty()) return invalid_field("model: must not be empty", "model");
  req.model = std::string(*model);
  out["model"] = req.model;

  Turns turns;
  if (const json::value* instructions = non_null_field(o, "instructions")) {
    if (!instructions->is_string())
      return expected_error("instructions", "a string", *instructions);
    if (!instructions->get_string().empty()) {
      turns.add(json::object{{"role", "system"}, {"content", instructions->get_string()}});
    }
  }
  const json::value* input = non_null_field(o, "input");
  if (input == nullptr) return required_error("input");
  if (auto err = translate_input(*input, turns)) return std::move(*err);
  fill_messages(req, turns.messages());
  out["messages"] = std::move(turns.messages());

  if (auto err = translate_options(o, req, out)) return std::move(*err);
  if (const json::value* tools = non_null_field(o, "tools")) {
    auto translated = translate_tools(*tools);
    if (!translated) return std::move(translated).error();
    if (!translated->empty()) out["tools"] = std::move(translated).value();
  }
  if (const json::value* choice = non_null_field(o, "tool_choice")) {
    auto translated = translate_tool_choice(*choice);
    if (!translated) return std::move(translated).error();
    out["tool_choice"] = std::move(translated).value();
  }
  if (const json::value* text = non_null_field(o, "text")) {
    if (auto err = translate_text(*text, out)) return std::move(*err);
  }
  req.echo = echo_fields(o);
  req.body = std::move(out);
  return req;
}

}  // namespace triage::api::responses
