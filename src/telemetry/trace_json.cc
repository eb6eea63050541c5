#include "telemetry/trace_json.h"

namespace triage::telemetry {
namespace {

void append_key(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

}  // namespace

std::string_view span_kind_name(core::SpanKind kind) {
  switch (kind) {
    case core::SpanKind::kRoute:
      return "route";
    case core::SpanKind::kModelCall:
      return "model_call";
    case core::SpanKind::kCheck:
      return "check";
  }
  return "unknown";
}

std::string flags_json(const std::vector<std::string>& flags) {
  std::string out = "[";
  for (size_t i = 0; i < flags.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, flags[i]);
  }
  out += ']';
  return out;
}

std::string spans_json(const std::vector<core::Span>& spans) {
  std::string out;
  out.reserve(2 + spans.size() * 256);
  out += '[';
  for (size_t i = 0; i < spans.size(); ++i) {
    const core::Span& s = spans[i];
    if (i > 0) out += ',';
    out += '{';
    append_key(out, "kind");
    append_json_string(out, span_kind_name(s.kind));
    out += ',';
    append_key(out, "name");
    append_json_string(out, s.name);
    out += ',';
    append_key(out, "detail");
    append_json_string(out, s.detail);
    out += ',';
    append_key(out, "tier");
    append_json_string(out, s.tier);
    out += ',';
    append_key(out, "start_us");
    append_json_int(out, s.start_us);
    out += ',';
    append_key(out, "duration_us");
    append_json_int(out, s.duration_us);
    out += ',';
    append_key(out, "queue_us");
    append_json_int(out, s.queue_us);
    out += ',';
    append_key(out, "ttfb_us");
    append_json_int(out, s.ttfb_us);
    out += ',';
    append_key(out, "tokens_in");
    append_json_int(out, s.tokens_in);
    out += ',';
    append_key(out, "tokens_out");
    append_json_int(out, s.tokens_out);
    out += ',';
    append_key(out, "tokens_estimated");
    out += s.tokens_estimated ? "true" : "false";
    out += ',';
    append_key(out, "cost_usd");
    append_json_double(out, s.cost_usd);
    out += ',';
    append_key(out, "ok");
    out += s.ok ? "true" : "false";
    out += ',';
    append_key(out, "error");
    append_json_string(out, s.error);
    if (s.grade) {  // only model calls with a recorded grade (docs/store.md)
      out += ',';
      append_key(out, "grade");
      append_json_double(out, *s.grade);
    }
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace triage::telemetry
