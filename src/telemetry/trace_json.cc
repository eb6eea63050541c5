#include "telemetry/trace_json.h"

namespace triage::telemetry {

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

std::string flags_json(const std::vector<core::ReviewFlag>& flags) {
  std::string out = "[";
  for (size_t i = 0; i < flags.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, core::flag_name(flags[i]));
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
    out += R"("kind":)";
    append_json_string(out, span_kind_name(s.kind));
    out += ',';
    out += R"("name":)";
    append_json_string(out, s.name);
    out += ',';
    out += R"("detail":)";
    append_json_string(out, s.detail);
    out += ',';
    out += R"("tier":)";
    append_json_string(out, s.tier);
    out += ',';
    out += R"("start_us":)";
    append_json_int(out, s.start_us);
    out += ',';
    out += R"("duration_us":)";
    append_json_int(out, s.duration_us);
    out += ',';
    out += R"("queue_us":)";
    append_json_int(out, s.queue_us);
    out += ',';
    out += R"("ttfb_us":)";
    append_json_int(out, s.ttfb_us);
    out += ',';
    out += R"("tokens_in":)";
    append_json_int(out, s.tokens_in);
    out += ',';
    out += R"("tokens_out":)";
    append_json_int(out, s.tokens_out);
    out += ',';
    out += R"("tokens_estimated":)";
    out += s.tokens_estimated ? "true" : "false";
    out += ',';
    out += R"("cost_usd":)";
    append_json_double(out, s.cost_usd);
    out += ',';
    out += R"("ok":)";
    out += s.ok ? "true" : "false";
    out += ',';
    out += R"("error":)";
    append_json_string(out, s.error);
    if (s.grade) {  // only model calls with a recorded grade (docs/store.md)
      out += ',';
      out += R"("grade":)";
      append_json_double(out, *s.grade);
    }
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace triage::telemetry
