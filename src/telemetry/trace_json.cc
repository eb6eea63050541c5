#include "telemetry/trace_json.h"

#include <utility>

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

namespace {
constexpr std::pair<core::CascadeOutcome, std::string_view> kCascadeOutcomes[] = {
    {core::CascadeOutcome::kAccepted, "accepted"},
    {core::CascadeOutcome::kFinalChecksFailed, "final_checks_failed"},
    {core::CascadeOutcome::kFailed, "failed"},
    {core::CascadeOutcome::kCancelled, "cancelled"},
};
}  // namespace

std::string_view cascade_outcome_name(core::CascadeOutcome outcome) {
  for (const auto& [o, name] : kCascadeOutcomes) {
    if (o == outcome) return name;
  }
  return "unknown";
}

std::optional<core::CascadeOutcome> parse_cascade_outcome(std::string_view name) {
  for (const auto& [o, n] : kCascadeOutcomes) {
    if (n == name) return o;
  }
  return std::nullopt;
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
    // Resilience facts of a model call (docs/resilience.md), only when there are some.
    if (!s.retries.empty()) {
      out += R"(,"retries":[)";
      for (size_t r = 0; r < s.retries.size(); ++r) {
        if (r > 0) out += ',';
        append_json_string(out, s.retries[r]);
      }
      out += ']';
    }
    auto optional_string = [&out](std::string_view key, const std::string& value) {
      if (value.empty()) return;
      out += ",\"";
      out += key;
      out += "\":";
      append_json_string(out, value);
    };
    optional_string("no_retry", s.no_retry);
    optional_string("breaker", s.breaker);
    optional_string("deployment", s.deployment);
    optional_string("shed", s.shed);
    optional_string(kShadowDecisionSpanKey, s.shadow_decision);  // docs/store.md
    optional_string(kRouterVersionSpanKey, s.router_version);  // docs/loop.md
    if (s.agrees) {  // only a shadow's route span in a candidate's trace (docs/store.md)
      out += ",\"";
      out += kAgreesSpanKey;
      out += *s.agrees ? "\":true" : "\":false";
    }
    if (s.cascade) {  // only a cascade's route span (docs/store.md)
      out += ",\"";
      out += kCascadeSpanKey;
      out += R"(":{"step":)";
      append_json_int(out, s.cascade->step);
      out += R"(,"route":)";
      append_json_string(out, s.cascade->step_route);
      out += R"(,"outcome":)";
      append_json_string(out, cascade_outcome_name(s.cascade->outcome));
      out += '}';
    }
    if (s.skipped) {  // a model skipped as ineligible (docs/routes.md "Capabilities")
      out += R"(,"skipped":{"kind":)";
      append_json_string(out, core::skip_kind_name(s.skipped->kind));
      out += R"(,"need":)";
      append_json_int(out, s.skipped->need);
      out += R"(,"limit":)";
      append_json_int(out, s.skipped->limit);
      out += '}';
    }
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace triage::telemetry
