#pragma once
// Trace builders shared by the telemetry tests.
#include <string>

#include "core/trace.h"

namespace triage::telemetry::testing {

// A trace with every field set to a value derived from i, so that rows are distinguishable.
inline core::Trace full_trace(int i) {
  core::Trace t;
  t.request_id = "req-" + std::to_string(i);
  t.time_ms = 1700000000000 + i;
  t.api_key_id = "key-" + std::to_string(i % 3);
  t.cohort = "cohort-" + std::to_string(i % 2);
  t.category = "coding";
  t.user = "user \"" + std::to_string(i) + "\"";
  t.requested_model = "auto";
  t.route = "auto";
  t.model = i % 2 == 0 ? "small" : "large";
  t.tier = i % 2 == 0 ? "small" : "large";
  t.provider = "replay";
  t.stream = i % 2 == 1;
  t.tokens_in = 100 + i;
  t.tokens_out = 20 + i;
  t.tokens_estimated = i % 5 == 0;
  t.cost_usd = 0.125 * (i + 1);
  t.routing_us = 10 + i;
  t.queue_us = 20 + i;
  t.upstream_ttfb_us = 300 + i;
  t.upstream_us = 4000 + i;
  t.overhead_us = 50 + i;
  t.total_us = t.routing_us + t.queue_us + t.upstream_us + t.overhead_us;
  t.http_status = i % 7 == 0 ? 502 : 200;
  if (t.http_status != 200) {
    t.error_code = "upstream_error";
    t.error_message = "upstream said\nno";
  }
  t.finish_reason = "stop";
  t.synthesized = i % 11 == 0;
  t.label = "hard";
  t.confidence = 0.5 + 1.0 / (i + 3);
  t.flags = {core::ReviewFlag::kFlagBand, core::all_flags()[i % core::all_flags().size()]};
  core::Span route;
  route.kind = core::SpanKind::kRoute;
  route.name = "auto";
  route.detail = "classify/1";
  route.duration_us = t.routing_us;
  core::Span call;
  call.kind = core::SpanKind::kModelCall;
  call.name = t.model;
  call.detail = "replay/1";
  call.tier = t.tier;
  call.start_us = t.routing_us;
  call.duration_us = t.queue_us + t.upstream_us;
  call.queue_us = t.queue_us;
  call.ttfb_us = t.upstream_ttfb_us;
  call.tokens_in = t.tokens_in;
  call.tokens_out = t.tokens_out;
  call.tokens_estimated = t.tokens_estimated;
  call.cost_usd = t.cost_usd;
  call.ok = t.http_status == 200;
  call.error = t.error_code;
  t.spans = {route, call};
  return t;
}

}  // namespace triage::telemetry::testing
