// core::Completion / core::Delta / Error -> Responses API objects and stream events.
#include <boost/json/value.hpp>
#include <vector>

#include "api/json_write.h"
#include "api/responses.h"

namespace triage::api::responses {
namespace json = boost::json;
using detail::append_int;
using detail::append_string;

namespace {

// One `output` item as the answer is assembled: a message (text) or a function call.
struct OutputItem {
  enum class Kind { kMessage, kFunctionCall };
  Kind kind = Kind::kMessage;
  std::string id;       // msg_... / fc_...
  std::string call_id;  // function calls: the upstream's tool call id
  std::string name;     // function calls
  std::string text;     // the message's text, or the call's arguments
};

// What the Response object says about itself besides its output.
struct Head {
  std::string id;  // resp_...
  int64_t created_at = 0;
  std::string model;
};

std::string id_suffix(std::string_view request_id) {
  constexpr std::string_view kPrefix = "req_";
  if (request_id.starts_with(kPrefix)) request_id.remove_prefix(kPrefix.size());
  return std::string(request_id);
}

std::string_view string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// Why an answer is incomplete (incomplete_details.reason), or empty when it is complete.
std::string_view incomplete_reason(std::string_view finish_reason) {
  if (finish_reason == "length") return "max_output_tokens";
  if (finish_reason == "content_filter") return "content_filter";
  return {};
}

void append_echo(std::string& out, const json::object& echo, std::string_view key,
                 std::string_view fallback) {
  out += ",\"";
  out += key;
  out += "\":";
  if (const json::value* v = echo.if_contains(key); v != nullptr && !v->is_null()) {
    detail::append_value(out, *v);
  } else {
    out += fallback;
  }
}

void append_usage(std::string& out, const core::Usage& u) {
  out += R"({"input_tokens":)";
  append_int(out, u.prompt_tokens);
  out += R"(,"input_tokens_details":{"cached_tokens":)";
  append_int(out, u.cached_prompt_tokens);
  out += R"(},"output_tokens":)";
  append_int(out, u.completion_tokens);
  out += R"(,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":)";
  append_int(out, u.prompt_tokens + u.completion_tokens);
  out += '}';
}

void append_text_part(std::string& out, std::string_view text) {
  out += R"({"type":"output_text","annotations":[],"logprobs":[],"text":)";
  append_string(out, text);
  out += '}';
}

// One output item; `status` is "in_progress", "completed" or "incomplete". An in-progress
// message has no parts yet (content_part.added brings them).
void append_item(std::string& out, const OutputItem& item, std::string_view status) {
  out += R"({"id":)";
  append_string(out, item.id);
  if (item.kind == OutputItem::Kind::kMessage) {
    out += R"(,"type":"message","status":")";
    out += status;
    out += R"(","role":"assistant","content":[)";
    if (status != "in_progress") append_text_part(out, item.text);
    out += "]}";
    return;
  }
  out += R"(,"type":"function_call","status":")";
  out += status;
  out += R"(","call_id":)";
  append_string(out, item.call_id);
  out += R"(,"name":)";
  append_string(out, item.name);
  out += R"(,"arguments":)";
  append_string(out, status == "in_progress" ? std::string_view() : item.text);
  out += '}';
}

// What ends a Response object: its state and, when finished, its usage.
struct Ending {
  std::string_view status = "in_progress";  // in_progress | completed | incomplete | failed
  std::string_view incomplete_reason;       // incomplete only
  const core::Usage* usage = nullptr;
  const Error* error = nullptr;  // failed only
  const TriageInfo* triage = nullptr;
};

void append_response(std::string& out, const Head& head, const json::object& echo,
                     const std::vector<OutputItem>& items, const Ending& end) {
  out += R"({"id":)";
  append_string(out, head.id);
  out += R"(,"object":"response","created_at":)";
  append_int(out, head.created_at);
  out += R"(,"status":")";
  out += end.status;
  out += R"(","background":false,"error":)";
  if (end.error != nullptr) {
    out += R"({"code":)";
    const std::string_view code = error_code(end.error->code);
    append_string(out, code.empty() ? error_type(end.error->code) : code);
    out += R"(,"message":)";
    append_string(out, end.error->message.empty() ? std::string_view("Internal error")
                                                  : std::string_view(end.error->message));
    out += '}';
  } else {
    out += "null";
  }
  out += R"(,"incomplete_details":)";
  if (!end.incomplete_reason.empty()) {
    out += R"({"reason":")";
    out += end.incomplete_reason;
    out += "\"}";
  } else {
    out += "null";
  }
  append_echo(out, echo, "instructions", "null");
  append_echo(out, echo, "max_output_tokens", "null");
  append_echo(out, echo, "metadata", "{}");
  out += R"(,"model":)";
  append_string(out, head.model);
  out += R"(,"output":[)";
  const std::string_view item_status =
      end.status == "incomplete" ? "incomplete" : std::string_view("completed");
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    append_item(out, items[i], item_status);
  }
  out += ']';
  append_echo(out, echo, "parallel_tool_calls", "true");
  out += R"(,"previous_response_id":null)";
  append_echo(out, echo, "reasoning", "null");
  out += R"(,"store":false)";
  append_echo(out, echo, "temperature", "null");
  append_echo(out, echo, "text", R"({"format":{"type":"text"}})");
  append_echo(out, echo, "tool_choice", R"("auto")");
  append_echo(out, echo, "tools", "[]");
  append_echo(out, echo, "top_p", "null");
  out += R"(,"truncation":"disabled","usage":)";
  if (end.usage != nullptr) {
    append_usage(out, *end.usage);
  } else {
    out += "null";
  }
  append_echo(out, echo, "user", "null");
  if (end.triage != nullptr) {
    out += R"(,"triage":)";
    append_triage_object(out, *end.triage);
  }
  out += '}';
}

// The output items of a whole completion: the message (text, or nothing else to say), then
// one function call per tool call.
std::vector<OutputItem> completion_items(std::string_view suffix, const core::Completion& c) {
  std::vector<OutputItem> items;
  if (!c.content.empty() || !c.tool_calls.is_array() || c.tool_calls.get_array().empty()) {
    items.push_back({OutputItem::Kind::kMessage, "msg_" + std::string(suffix), {}, {}, c.content});
  }
  if (const json::array* calls = c.tool_calls.if_array()) {
    for (const json::value& v : *calls) {
      const json::object* tc = v.if_object();
      if (tc == nullptr) continue;
      const json::object* fn = nullptr;
      if (const json::value* f = tc->if_contains("function")) fn = f->if_object();
      OutputItem item{OutputItem::Kind::kFunctionCall,
                      "fc_" + std::string(suffix) + "_" + std::to_string(items.size()),
                      std::string(string_at(*tc, "id")),
                      std::string(fn ? string_at(*fn, "name") : std::string_view()),
                      std::string(fn ? string_at(*fn, "arguments") : std::string_view())};
      items.push_back(std::move(item));
    }
  }
  return items;
}

class ResponsesStreamRenderer final : public StreamRenderer {
 public:
  explicit ResponsesStreamRenderer(json::object echo) : echo_(std::move(echo)) {}

  void begin(std::string_view request_id, int64_t created_s, std::string_view model,
             std::string& out) override {
    suffix_ = id_suffix(request_id);
    head_ = Head{"resp_" + suffix_, created_s, std::string(model)};
    std::string rest = R"(,"response":)";
    append_response(rest, head_, echo_, {}, Ending{});
    event(out, "response.created", rest);
    event(out, "response.in_progress", rest);
  }

  void delta(const core::Delta& d, std::string& out) override {
    if (!d.content.empty()) {
      if (!open_ || items_.back().kind != OutputItem::Kind::kMessage) open_message(out);
      items_.back().text += d.content;
      std::string rest = item_ref(true);
      rest += R"(,"delta":)";
      append_string(rest, d.content);
      rest += R"(,"logprobs":[])";
      event(out, "response.output_text.delta", rest);
    }
    if (d.tool_calls == nullptr || !d.tool_calls->is_array()) return;
    for (const json::value& v : d.tool_calls->get_array()) {
      const json::object* tc = v.if_object();
      if (tc == nullptr) continue;
      int64_t index = 0;
      if (const json::value* i = tc->if_contains("index"); i != nullptr && i->is_int64()) {
        index = i->get_int64();
      }
      const json::object* fn = nullptr;
      if (const json::value* f = tc->if_contains("function")) fn = f->if_object();
      if (!open_ || items_.back().kind != OutputItem::Kind::kFunctionCall ||
          index != tool_index_) {
        open_call(out, string_at(*tc, "id"), fn ? string_at(*fn, "name") : std::string_view());
        tool_index_ = index;
      }
      const std::string_view args = fn ? string_at(*fn, "arguments") : std::string_view();
      if (args.empty()) continue;
      items_.back().text += args;
      std::string rest = item_ref(false);
      rest += R"(,"delta":)";
      append_string(rest, args);
      event(out, "response.function_call_arguments.delta", rest);
    }
  }

  void end(const core::Completion& c, const TriageInfo& triage, std::string& out) override {
    const std::string_view reason = incomplete_reason(c.finish_reason);
    if (items_.empty()) open_message(out);  // an empty answer is still a message
    close(out, reason.empty() ? "completed" : "incomplete");
    Ending ending;
    ending.status = reason.empty() ? "completed" : "incomplete";
    ending.incomplete_reason = reason;
    ending.usage = &c.usage;
    ending.triage = &triage;
    std::string rest = R"(,"response":)";
    append_response(rest, head_, echo_, items_, ending);
    event(out, reason.empty() ? "response.completed" : "response.incomplete", rest);
  }

  void error(const Error& e, std::string& out) override {
    Ending ending;
    ending.status = "failed";
    ending.error = &e;
    std::string rest = R"(,"response":)";
    append_response(rest, head_, echo_, items_, ending);
    event(out, "response.failed", rest);
    // OpenAI's `error` event, plus the `error` object the SDKs raise an APIError from.
    const std::string_view code = error_code(e.code);
    rest = R"(,"code":)";
    append_string(rest, code.empty() ? error_type(e.code) : code);
    rest += R"(,"message":)";
    append_string(rest, e.message.empty() ? std::string_view("Internal error")
                                          : std::string_view(e.message));
    rest += R"(,"param":)";
    detail::append_string_or_null(rest, e.param);
    rest += R"(,"error":)";
    const std::string body = error_body(e);  // {"error":{...}}
    rest.append(body, 9, body.size() - 10);
    event(out, "error", rest);
  }

 private:
  // `event: <type>` and `data: {"type":<type>,"sequence_number":N<rest>}`.
  void event(std::string& out, std::string_view type, std::string_view rest) {
    out += "event: ";
    out += type;
    out += "\ndata: {\"type\":\"";
    out += type;
    out += R"(","sequence_number":)";
    append_int(out, sequence_++);
    out += rest;
    out += "}\n\n";
  }
  // The open item's id and output index (and content index for text events).
  std::string item_ref(bool with_content_index) const {
    std::string s = R"(,"item_id":)";
    append_string(s, items_.back().id);
    s += R"(,"output_index":)";
    append_int(s, static_cast<int64_t>(items_.size() - 1));
    if (with_content_index) s += R"(,"content_index":0)";
    return s;
  }
  void added(std::string& out) {
    std::string rest = R"(,"output_index":)";
    append_int(rest, static_cast<int64_t>(items_.size() - 1));
    rest += R"(,"item":)";
    append_item(rest, items_.back(), "in_progress");
    event(out, "response.output_item.added", rest);
  }
  void open_message(std::string& out) {
    close(out, "completed");
    items_.push_back({OutputItem::Kind::kMessage, "msg_" + suffix_, {}, {}, {}});
    open_ = true;
    added(out);
    std::string rest = item_ref(true);
    rest += R"(,"part":)";
    append_text_part(rest, "");
    event(out, "response.content_part.added", rest);
  }
  void open_call(std::string& out, std::string_view call_id, std::string_view name) {
    close(out, "completed");
    items_.push_back({OutputItem::Kind::kFunctionCall,
                      "fc_" + suffix_ + "_" + std::to_string(items_.size()),
                      std::string(call_id), std::string(name), {}});
    open_ = true;
    added(out);
  }
  // The done events of the open item, if any.
  void close(std::string& out, std::string_view status) {
    if (!open_) return;
    open_ = false;
    const OutputItem& item = items_.back();
    if (item.kind == OutputItem::Kind::kMessage) {
      std::string rest = item_ref(true);
      rest += R"(,"text":)";
      append_string(rest, item.text);
      rest += R"(,"logprobs":[])";
      event(out, "response.output_text.done", rest);
      rest = item_ref(true);
      rest += R"(,"part":)";
      append_text_part(rest, item.text);
      event(out, "response.content_part.done", rest);
    } else {
      std::string rest = item_ref(false);
      rest += R"(,"name":)";
      append_string(rest, item.name);
      rest += R"(,"arguments":)";
      append_string(rest, item.text);
      event(out, "response.function_call_arguments.done", rest);
    }
    std::string rest = R"(,"output_index":)";
    append_int(rest, static_cast<int64_t>(items_.size() - 1));
    rest += R"(,"item":)";
    append_item(rest, item, status);
    event(out, "response.output_item.done", rest);
  }

  json::object echo_;
  std::string suffix_;
  Head head_;
  std::vector<OutputItem> items_;
  bool open_ = false;        // items_.back() still takes deltas
  int64_t tool_index_ = -1;  // chat tool_calls index of the open function call
  int64_t sequence_ = 0;
};

}  // namespace

std::string response_id(std::string_view request_id) { return "resp_" + id_suffix(request_id); }

std::string serialize_response(const core::ChatRequest& req, const ResponseInfo& info,
                               const core::Completion& c) {
  const std::string suffix = id_suffix(info.triage.request_id);
  const std::string_view reason = incomplete_reason(c.finish_reason);
  Ending ending;
  ending.status = reason.empty() ? "completed" : "incomplete";
  ending.incomplete_reason = reason;
  ending.usage = &c.usage;
  ending.triage = &info.triage;
  std::string out;
  out.reserve(1024 + c.content.size());
  append_response(out, Head{"resp_" + suffix, info.created, info.model}, req.echo,
                  completion_items(suffix, c), ending);
  return out;
}

std::unique_ptr<StreamRenderer> make_stream_renderer(const core::ChatRequest& req) {
  return std::make_unique<ResponsesStreamRenderer>(req.echo);
}

}  // namespace triage::api::responses

namespace triage::api {

const Dialect& responses_dialect() {
  static const Dialect d{core::ClientApi::kResponses, &responses::parse_request, &error_response,
                         &responses::serialize_response, &responses::make_stream_renderer};
  return d;
}

}  // namespace triage::api
