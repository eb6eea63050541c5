#include "api/chat_response.h"

#include <cmath>

#include "api/json_write.h"

namespace triage::api {

using detail::append_bool;
using detail::append_double;
using detail::append_int;
using detail::append_string;
using detail::append_string_or_null;

namespace {

double ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

bool has_tool_calls(const boost::json::value& tc) { return !tc.is_null(); }

// The tail shared by every chunk with choices: closes the choice and the event.
void close_chunk(std::string& out, bool include_usage) {
  out += include_usage ? std::string_view("],\"usage\":null}\n\n") : std::string_view("]}\n\n");
}

void append_usage(std::string& out, const core::Usage& u) {
  out += R"({"prompt_tokens":)";
  append_int(out, u.prompt_tokens);
  out += R"(,"completion_tokens":)";
  append_int(out, u.completion_tokens);
  out += R"(,"total_tokens":)";
  append_int(out, u.prompt_tokens + u.completion_tokens);
  out += R"(,"prompt_tokens_details":{"cached_tokens":)";
  append_int(out, u.cached_prompt_tokens);
  out += "}}";
}

// Milliseconds with microsecond precision as a fixed 3-decimal number ("12.345"): exact for
// the integer microseconds the trace holds, and ~10x cheaper than shortest-double formatting.
void append_millis(std::string& out, double ms) {
  if (!std::isfinite(ms) || ms < 0) {
    out += "0.000";
    return;
  }
  const long long us = std::llround(ms * 1000.0);
  append_json_int(out, us / 1000);
  char frac[5] = {'.', static_cast<char>('0' + us % 1000 / 100),
                  static_cast<char>('0' + us % 100 / 10), static_cast<char>('0' + us % 10), 0};
  out += frac;
}

void append_triage(std::string& out, const TriageInfo& t) {
  out += R"({"request_id":)";
  append_string(out, t.request_id);
  out += R"(,"route":)";
  append_string_or_null(out, t.route);
  out += R"(,"model":)";
  append_string_or_null(out, t.model);
  out += R"(,"tier":)";
  append_string_or_null(out, t.tier);
  out += R"(,"cost_usd":)";
  append_double(out, t.cost_usd);
  out += R"(,"tokens_estimated":)";
  append_bool(out, t.tokens_estimated);
  out += R"(,"latency_ms":{"routing":)";
  append_millis(out, t.routing_ms);
  out += R"(,"queue":)";
  append_millis(out, t.queue_ms);
  out += R"(,"upstream_ttfb":)";
  append_millis(out, t.upstream_ttfb_ms);
  out += R"(,"upstream":)";
  append_millis(out, t.upstream_ms);
  out += R"(,"overhead":)";
  append_millis(out, t.overhead_ms);
  out += R"(,"total":)";
  append_millis(out, t.total_ms);
  out += R"(},"synthesized":)";
  append_bool(out, t.synthesized);
  if (!t.label.empty()) {
    out += R"(,"label":)";
    append_string(out, t.label);
    out += R"(,"confidence":)";
    append_double(out, t.confidence);
  }
  out += '}';
}

}  // namespace

void append_triage_object(std::string& out, const TriageInfo& t) { append_triage(out, t); }

std::string response_id(std::string_view request_id) {
  constexpr std::string_view kPrefix = "req_";
  if (request_id.substr(0, kPrefix.size()) == kPrefix) request_id.remove_prefix(kPrefix.size());
  std::string id = "chatcmpl-";
  id += request_id;
  return id;
}

TriageInfo triage_info(const core::Trace& trace) {
  TriageInfo t;
  t.request_id = trace.request_id;
  t.route = trace.route;
  t.model = trace.model;
  t.tier = trace.tier;
  t.cost_usd = trace.cost_usd;
  t.tokens_estimated = trace.tokens_estimated;
  t.routing_ms = ms(trace.routing_us);
  t.queue_ms = ms(trace.queue_us);
  t.upstream_ttfb_ms = ms(trace.upstream_ttfb_us);
  t.upstream_ms = ms(trace.upstream_us);
  t.overhead_ms = ms(trace.overhead_us);
  t.total_ms = ms(trace.total_us);
  t.synthesized = trace.synthesized;
  t.label = trace.label;
  t.confidence = trace.confidence;
  return t;
}

ResponseInfo response_info(const core::Trace& trace, int64_t created_s) {
  ResponseInfo info;
  info.id = response_id(trace.request_id);
  info.created = created_s;
  info.model = trace.model.empty() ? trace.requested_model : trace.model;
  info.triage = triage_info(trace);
  return info;
}

std::string serialize_completion(const ResponseInfo& info, const core::Completion& c) {
  std::string out;
  out.reserve(640 + c.content.size() + c.content.size() / 8);
  out += R"({"id":)";
  append_string(out, info.id);
  out += R"(,"object":"chat.completion","created":)";
  append_int(out, info.created);
  out += R"(,"model":)";
  append_string(out, info.model);
  out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)";
  bool tools = has_tool_calls(c.tool_calls);
  if (tools && c.content.empty()) {
    out += "null";
  } else {
    append_string(out, c.content);
  }
  if (tools) {
    out += R"(,"tool_calls":)";
    detail::append_value(out, c.tool_calls);
  }
  out += R"(,"refusal":null},"logprobs":null,"finish_reason":)";
  append_string(out, c.finish_reason.empty() ? std::string_view("stop") : c.finish_reason);
  out += R"(}],"usage":)";
  append_usage(out, c.usage);
  out += R"(,"system_fingerprint":null,"triage":)";
  append_triage(out, info.triage);
  out += '}';
  return out;
}

ChunkSerializer::ChunkSerializer(std::string_view id, int64_t created, std::string_view model,
                                 bool include_usage)
    : include_usage_(include_usage) {
  prefix_.reserve(128 + id.size() + model.size());
  prefix_ += R"(data: {"id":)";
  append_string(prefix_, id);
  prefix_ += R"(,"object":"chat.completion.chunk","created":)";
  append_int(prefix_, created);
  prefix_ += R"(,"model":)";
  append_string(prefix_, model);
  prefix_ += R"(,"system_fingerprint":null,"choices":[)";
}

std::string ChunkSerializer::role_chunk() const {
  std::string out;
  out.reserve(prefix_.size() + 144);
  out += prefix_;
  out += R"({"index":0,"delta":{"role":"assistant","content":"","refusal":null},)"
         R"("logprobs":null,"finish_reason":null})";
  close_chunk(out, include_usage_);
  return out;
}

std::string ChunkSerializer::delta_chunk(const core::Delta& d) const {
  std::string out;
  out.reserve(prefix_.size() + 112 + d.content.size() + d.content.size() / 8);
  out += prefix_;
  out += R"({"index":0,"delta":{)";
  bool comma = false;
  if (!d.role.empty()) {
    out += R"("role":)";
    append_string(out, d.role);
    comma = true;
  }
  bool tools = d.tool_calls != nullptr && has_tool_calls(*d.tool_calls);
  if (!d.content.empty() || !tools) {
    if (comma) out += ',';
    out += R"("content":)";
    append_string(out, d.content);
    comma = true;
  }
  if (tools) {
    if (comma) out += ',';
    out += R"("tool_calls":)";
    detail::append_value(out, *d.tool_calls);
  }
  out += R"(},"logprobs":null,"finish_reason":null})";
  close_chunk(out, include_usage_);
  return out;
}

std::string ChunkSerializer::content_chunk(std::string_view content) const {
  core::Delta d;
  d.content = content;
  return delta_chunk(d);
}

std::string ChunkSerializer::finish_chunk(std::string_view finish_reason,
                                          const TriageInfo* triage) const {
  std::string out;
  out.reserve(prefix_.size() + (triage != nullptr ? 480 : 96));
  out += prefix_;
  out += R"({"index":0,"delta":{},"logprobs":null,"finish_reason":)";
  append_string(out, finish_reason.empty() ? std::string_view("stop") : finish_reason);
  out += R"(}])";
  if (include_usage_) out += R"(,"usage":null)";
  if (triage != nullptr) {
    out += R"(,"triage":)";
    append_triage(out, *triage);
  }
  out += "}\n\n";
  return out;
}

std::string ChunkSerializer::usage_chunk(const core::Usage& usage, const TriageInfo* triage) const {
  std::string out;
  out.reserve(prefix_.size() + 512);
  out += prefix_;
  out += R"(],"usage":)";
  append_usage(out, usage);
  if (triage != nullptr) {
    out += R"(,"triage":)";
    append_triage(out, *triage);
  }
  out += "}\n\n";
  return out;
}

}  // namespace triage::api
