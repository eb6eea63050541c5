#include "telemetry/request_row.h"

#include "telemetry/trace_json.h"

namespace triage::telemetry {

const std::array<const char*, kRequestColumnCount> kRequestColumns = {"request_id",
                                                                      "ts_ms",
                                                                      "api_key_id",
                                                                      "cohort",
                                                                      "category",
                                                                      "user_id",
                                                                      "requested_model",
                                                                      "route",
                                                                      "model",
                                                                      "tier",
                                                                      "provider",
                                                                      "stream",
                                                                      "tokens_in",
                                                                      "tokens_out",
                                                                      "tokens_estimated",
                                                                      "cost_usd",
                                                                      "routing_us",
                                                                      "queue_us",
                                                                      "upstream_ttfb_us",
                                                                      "upstream_us",
                                                                      "overhead_us",
                                                                      "total_us",
                                                                      "status",
                                                                      "error_code",
                                                                      "error_message",
                                                                      "finish_reason",
                                                                      "synthesized",
                                                                      "label",
                                                                      "confidence",
                                                                      "flags",
                                                                      "spans",
                                                                      "api_key_name",
                                                                      "config_version",
                                                                      "api",
                                                                      "cache"};

namespace {

RowValue text_or_null(std::string_view s) { return s.empty() ? RowValue() : RowValue(s); }

}  // namespace

void make_request_row(const core::Trace& t, RequestRow& row) {
  row.flags = flags_json(t.flags);
  row.spans = spans_json(t.spans);
  auto& v = row.values;
  auto i = [](auto x) { return RowValue(static_cast<int64_t>(x)); };
  v[0] = std::string_view(t.request_id);
  v[1] = i(t.time_ms);
  v[2] = text_or_null(t.api_key_id);
  v[3] = text_or_null(t.cohort);
  v[4] = text_or_null(t.category);
  v[5] = text_or_null(t.user);
  v[6] = text_or_null(t.requested_model);
  v[7] = text_or_null(t.route);
  v[8] = text_or_null(t.model);
  v[9] = text_or_null(t.tier);
  v[10] = text_or_null(t.provider);
  v[11] = i(t.stream ? 1 : 0);
  v[12] = i(t.tokens_in);
  v[13] = i(t.tokens_out);
  v[14] = i(t.tokens_estimated ? 1 : 0);
  v[15] = RowValue(t.cost_usd);
  v[16] = i(t.routing_us);
  v[17] = i(t.queue_us);
  v[18] = i(t.upstream_ttfb_us);
  v[19] = i(t.upstream_us);
  v[20] = i(t.overhead_us);
  v[21] = i(t.total_us);
  v[22] = i(t.http_status);
  v[23] = text_or_null(t.error_code);
  v[24] = text_or_null(t.error_message);
  v[25] = text_or_null(t.finish_reason);
  v[26] = i(t.synthesized ? 1 : 0);
  v[27] = text_or_null(t.label);
  v[28] = t.label.empty() ? RowValue() : RowValue(t.confidence);
  v[29] = std::string_view(row.flags);
  v[30] = std::string_view(row.spans);
  v[31] = text_or_null(t.api_key_name);
  v[32] = t.config_version > 0 ? i(t.config_version) : RowValue();
  v[33] = core::client_api_name(t.api);
  v[34] = text_or_null(core::cache_outcome_name(t.cache));
}

std::string prompt_attempts_json(const core::Trace& t) {
  std::string attempts = "[";
  for (const core::Span& span : t.spans) {
    if (span.kind != core::SpanKind::kModelCall) continue;
    if (attempts.size() > 1) attempts += ',';
    attempts += "{\"model\":";
    append_json_string(attempts, span.name);
    attempts += ",\"tier\":";
    append_json_string(attempts, span.tier);
    attempts += span.ok ? ",\"ok\":true,\"output\":" : ",\"ok\":false,\"output\":";
    append_json_string(attempts, span.output);
    attempts += '}';
  }
  attempts += ']';
  return attempts;
}

void RollupBatch::add(const core::Trace& t) {
  const int64_t minute = t.time_ms / 60000;
  const RollupKey keys[kRollupLevels] = {
      {minute, t.model, t.tier, t.route, t.category, t.cohort},
      {t.time_ms / 3600000 * 60, t.model, t.tier, t.route, t.category, t.cohort},
      {minute, t.model, {}, {}, {}, {}}};
  for (size_t i = 0; i < kRollupLevels; ++i) {
    RollupSums& r = levels_[i][keys[i]];
    r.requests += 1;
    r.client_errors += t.http_status >= 400 && t.http_status <= 499 ? 1 : 0;
    r.server_errors += t.http_status >= 500 ? 1 : 0;
    r.timeouts += t.error_code == "upstream_timeout" ? 1 : 0;
    r.cost_usd += t.cost_usd;
    r.tokens_in += t.tokens_in;
    r.tokens_out += t.tokens_out;
    r.upstream_us += t.upstream_us;
    r.total_us += t.total_us;
  }
}

void RollupBatch::clear() {
  for (auto& level : levels_) level.clear();
}

}  // namespace triage::telemetry
