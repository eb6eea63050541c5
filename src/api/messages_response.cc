// core::Completion / core::Delta / Error -> Anthropic Messages API answers and stream events.
#include <boost/json/parse.hpp>

#include "api/json_write.h"
#include "api/messages.h"

namespace triage::api::messages {
namespace json = boost::json;
using detail::append_int;
using detail::append_string;

namespace {

std::string_view anthropic_error_type(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnauthorized:
      return "authentication_error";
    case ErrorCode::kForbidden:
      return "permission_error";
    case ErrorCode::kNotFound:
      return "not_found_error";
    case ErrorCode::kPayloadTooLarge:
      return "request_too_large";
    case ErrorCode::kRateLimited:
      return "rate_limit_error";
    case ErrorCode::kUnavailable:
      return "overloaded_error";
    case ErrorCode::kUpstreamTimeout:
      return "timeout_error";
    case ErrorCode::kInternal:
    case ErrorCode::kUpstreamError:
    case ErrorCode::kCancelled:
      return "api_error";
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kMethodNotAllowed:
    case ErrorCode::kUnsupportedMedia:
    case ErrorCode::kNoEligibleModel:
      return "invalid_request_error";
  }
  return "api_error";
}

void append_error_object(std::string& out, const Error& e) {
  out += R"({"type":"error","error":{"type":")";
  out += anthropic_error_type(e.code);
  out += R"(","message":)";
  append_string(out, e.message.empty() ? std::string_view("Internal error") : e.message);
  out += "}}";
}

void append_event(std::string& out, std::string_view name, std::string_view data) {
  out += "event: ";
  out += name;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
}

void append_usage(std::string& out, const core::Usage& u) {
  out += R"({"input_tokens":)";
  append_int(out, u.prompt_tokens - u.cached_prompt_tokens);
  out += R"(,"cache_read_input_tokens":)";
  append_int(out, u.cached_prompt_tokens);
  out += R"(,"output_tokens":)";
  append_int(out, u.completion_tokens);
  out += '}';
}

// "stop_reason":R,"stop_sequence":S: stop_sequence (and S) when the upstream said which of the
// client's stop sequences ended the answer, else mapped from finish_reason with S null.
void append_stop(std::string& out, const core::Completion& c) {
  out += R"("stop_reason":)";
  if (c.stop_sequence.empty()) {
    append_string(out, stop_reason(c.finish_reason));
    out += R"(,"stop_sequence":null)";
    return;
  }
  out += R"("stop_sequence","stop_sequence":)";
  append_string(out, c.stop_sequence);
}

// A tool call's `arguments` text as the tool_use block's `input` object ({} when not JSON).
void append_input(std::string& out, std::string_view arguments) {
  json::error_code ec;
  json::value v = json::parse(arguments, ec);
  if (ec || !v.is_object()) {
    out += "{}";
    return;
  }
  detail::append_value(out, v);
}

std::string_view string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

class MessagesStreamRenderer final : public StreamRenderer {
 public:
  void begin(std::string_view request_id, int64_t /*created_s*/, std::string_view model,
             std::string& out) override {
    std::string data = R"({"type":"message_start","message":{"id":)";
    append_string(data, message_id(request_id));
    data += R"(,"type":"message","role":"assistant","model":)";
    append_string(data, model);
    data += R"(,"content":[],"stop_reason":null,"stop_sequence":null,)"
            R"("usage":{"input_tokens":0,"output_tokens":0}}})";
    append_event(out, "message_start", data);
  }

  void delta(const core::Delta& d, std::string& out) override {
    if (!d.content.empty()) {
      if (open_ != Block::kText) start_block(out, Block::kText, R"({"type":"text","text":""})");
      std::string data = block_prefix("content_block_delta");
      data += R"(,"delta":{"type":"text_delta","text":)";
      append_string(data, d.content);
      data += "}}";
      append_event(out, "content_block_delta", data);
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
      if (open_ != Block::kTool || index != tool_index_) {
        std::string block = R"({"type":"tool_use","id":)";
        append_string(block, string_at(*tc, "id"));
        block += R"(,"name":)";
        append_string(block, fn ? string_at(*fn, "name") : std::string_view());
        block += R"(,"input":{}})";
        start_block(out, Block::kTool, block);
        tool_index_ = index;
      }
      const std::string_view args = fn ? string_at(*fn, "arguments") : std::string_view();
      if (args.empty()) continue;
      std::string data = block_prefix("content_block_delta");
      data += R"(,"delta":{"type":"input_json_delta","partial_json":)";
      append_string(data, args);
      data += "}}";
      append_event(out, "content_block_delta", data);
    }
  }

  void end(const core::Completion& c, const TriageInfo& triage, std::string& out) override {
    stop_block(out);
    std::string data = R"({"type":"message_delta","delta":{)";
    append_stop(data, c);
    data += R"(},"usage":)";
    append_usage(data, c.usage);
    data += R"(,"triage":)";
    append_triage_object(data, triage);
    data += '}';
    append_event(out, "message_delta", data);
    append_event(out, "message_stop", R"({"type":"message_stop"})");
  }

  void error(const Error& e, std::string& out) override {
    std::string data;
    append_error_object(data, e);
    append_event(out, "error", data);
  }

 private:
  enum class Block { kNone, kText, kTool };

  std::string block_prefix(std::string_view type) const {
    std::string s = R"({"type":")";
    s += type;
    s += R"(","index":)";
    append_int(s, index_);
    return s;
  }
  void stop_block(std::string& out) {
    if (open_ == Block::kNone) return;
    append_event(out, "content_block_stop", block_prefix("content_block_stop") + "}");
    open_ = Block::kNone;
    ++index_;
  }
  void start_block(std::string& out, Block kind, std::string_view block) {
    stop_block(out);
    std::string data = block_prefix("content_block_start");
    data += R"(,"content_block":)";
    data += block;
    data += '}';
    append_event(out, "content_block_start", data);
    open_ = kind;
  }

  Block open_ = Block::kNone;
  int64_t index_ = 0;       // index of the open block, or of the next one
  int64_t tool_index_ = -1;  // OpenAI tool_calls index of the open tool_use block
};

}  // namespace

std::string_view finish_reason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn, unknown
}

std::string_view stop_reason(std::string_view finish_reason) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  return "end_turn";
}

std::string message_id(std::string_view request_id) {
  constexpr std::string_view kPrefix = "req_";
  if (request_id.starts_with(kPrefix)) request_id.remove_prefix(kPrefix.size());
  return "msg_" + std::string(request_id);
}

HttpError error_response(const Error& e) {
  std::string body;
  append_error_object(body, e);
  return {http_status(e.code), std::move(body)};
}

std::string serialize_message(const ResponseInfo& info, const core::Completion& c) {
  std::string out = R"({"id":)";
  append_string(out, message_id(info.triage.request_id));
  out += R"(,"type":"message","role":"assistant","model":)";
  append_string(out, info.model);
  out += R"(,"content":[)";
  bool first = true;
  if (!c.content.empty() || c.tool_calls.is_null()) {
    out += R"({"type":"text","text":)";
    append_string(out, c.content);
    out += '}';
    first = false;
  }
  if (const json::array* calls = c.tool_calls.if_array()) {
    for (const json::value& v : *calls) {
      const json::object* tc = v.if_object();
      if (tc == nullptr) continue;
      const json::object* fn = nullptr;
      if (const json::value* f = tc->if_contains("function")) fn = f->if_object();
      if (!first) out += ',';
      first = false;
      out += R"({"type":"tool_use","id":)";
      append_string(out, string_at(*tc, "id"));
      out += R"(,"name":)";
      append_string(out, fn ? string_at(*fn, "name") : std::string_view());
      out += R"(,"input":)";
      append_input(out, fn ? string_at(*fn, "arguments") : std::string_view());
      out += '}';
    }
  }
  out += "],";
  append_stop(out, c);
  out += R"(,"usage":)";
  append_usage(out, c.usage);
  out += R"(,"triage":)";
  append_triage_object(out, info.triage);
  out += '}';
  return out;
}

std::unique_ptr<StreamRenderer> make_stream_renderer() {
  return std::make_unique<MessagesStreamRenderer>();
}

}  // namespace triage::api::messages

namespace triage::api {

const Dialect& messages_dialect() {
  static const Dialect d{core::ClientApi::kMessages, &messages::parse_request,
                         &messages::error_response,
                         [](const core::ChatRequest&, const ResponseInfo& info,
                            const core::Completion& c) {
                           return messages::serialize_message(info, c);
                         },
                         [](const core::ChatRequest&) { return messages::make_stream_renderer(); }};
  return d;
}

}  // namespace triage::api
