#pragma once
// Compact JSON for the list-valued parts of a trace, as stored in the request store's `flags`
// and `spans` columns (format in docs/store.md). Pure functions, thread-safe.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_text.h"
#include "core/trace.h"

namespace triage::telemetry {

// "route" | "model_call" | "check"
std::string_view span_kind_name(core::SpanKind kind);

// The key of a cascade route span's typed record (core::Span::cascade) in the span JSON:
// "cascade":{"step":1,"route":"large","outcome":"accepted"}.
inline constexpr std::string_view kCascadeSpanKey = "cascade";
// The key of a decide-only shadow candidate's typed choice (core::Span::shadow_decision) in the
// span JSON: "shadow_decision":"MODEL".
inline constexpr std::string_view kShadowDecisionSpanKey = "shadow_decision";
// The key of a router decision's version (core::Span::router_version) in the span JSON:
// "router_version":"r-1a2b3c4d".
inline constexpr std::string_view kRouterVersionSpanKey = "router_version";
// The key of a shadow candidate's agreement with the primary (core::Span::agrees):
// "agrees":true.
inline constexpr std::string_view kAgreesSpanKey = "agrees";
// "accepted" | "final_checks_failed" | "failed" | "cancelled"
std::string_view cascade_outcome_name(core::CascadeOutcome outcome);
// The inverse; nullopt for a name this build does not know.
std::optional<core::CascadeOutcome> parse_cascade_outcome(std::string_view name);

// The flags' wire names, in order: ["flag_band","cascaded"]; "[]" when empty.
std::string flags_json(const std::vector<core::ReviewFlag>& flags);

// [{"kind":"model_call","name":...,"detail":...,"tier":...,"start_us":0,"duration_us":0,
//   "queue_us":0,"ttfb_us":0,"tokens_in":0,"tokens_out":0,"tokens_estimated":false,
//   "cost_usd":0.0,"ok":true,"error":""}, ...]; every key always present, no whitespace,
//   except "grade" (a number), present only when Span::grade is set, "cascade" (an object,
//   kCascadeSpanKey), present only when Span::cascade is set, and "shadow_decision" (a string,
//   kShadowDecisionSpanKey), present only when Span::shadow_decision is not empty, and
//   "router_version" (a string, kRouterVersionSpanKey), only when Span::router_version is set,
//   and "agrees" (a bool, kAgreesSpanKey), only when Span::agrees is set.
std::string spans_json(const std::vector<core::Span>& spans);

// Appends `s` as a JSON string literal (quotes included), JsonStringMode::kVerbatim: bytes
// >= 0x80 pass through as they are (the trace's strings are UTF-8); control characters are
// escaped.
inline void append_json_string(std::string& out, std::string_view s) {
  triage::append_json_string(out, s, JsonStringMode::kVerbatim);
}

}  // namespace triage::telemetry
