#pragma once
// What both store backends read back the same way, in one place: the mapping of a selected
// row to its struct, the list columns' text form, and SQL that both dialects accept. `Row` is
// a sqlite::Statement stepped onto a row or a pg::Row: both read a column by index (text,
// opt_text, i64, real, is_null). Each backend writes its own SELECT (the dialects differ) with
// the columns in the order documented at each mapping.
#include <string>
#include <vector>

#include "telemetry/dashboard_reader.h"
#include "telemetry/review_db.h"
#include "telemetry/traffic_reader.h"

namespace triage::telemetry {

// "a,b,c" -> {a, b, c}; empty items are skipped. The text form of review reasons (sep ',')
// and of a key's routes and models (sep '\n').
std::vector<std::string> split_list(const std::string& joined, char sep);
std::string join_list(const std::vector<std::string>& items, char sep);

// The group key of a dashboard dimension over `requests` or a rollup table: '(none)' for NULL
// or '' (kKey and kApi exist in `requests` only); "'all'" for kNone.
const char* dimension_key_sql(Dimension d);

// Columns: request_id, ts_ms, route, model, tier, status, tokens_in, tokens_out,
// tokens_estimated (0/1), cost_usd, total_us, synthesized (0/1), flags, spans, messages (NULL:
// not kept).
template <class Row>
StoredRequest stored_request_of(const Row& s) {
  StoredRequest r;
  r.request_id = s.text(0);
  r.ts_ms = s.i64(1);
  r.route = s.text(2);
  r.model = s.text(3);
  r.tier = s.text(4);
  r.status = static_cast<int>(s.i64(5));
  r.tokens_in = s.i64(6);
  r.tokens_out = s.i64(7);
  r.tokens_estimated = s.i64(8) != 0;
  r.cost_usd = s.real(9);
  r.total_us = s.i64(10);
  r.synthesized = s.i64(11) != 0;
  r.flags_json = s.text(12);
  r.spans_json = s.text(13);
  r.messages_json = s.opt_text(14);
  return r;
}

// Columns: category, tier, model, tokens_in, tokens_out, cost_usd, total_us, status, ts_ms,
// routed (0/1), first call's tier, shadow target, router version, shadow router version.
template <class Row>
TrafficRow traffic_row_of(const Row& s) {
  TrafficRow r;
  r.category = s.text(0);
  r.tier = s.text(1);
  r.model = s.text(2);
  r.tokens_in = s.i64(3);
  r.tokens_out = s.i64(4);
  r.cost_usd = s.real(5);
  r.total_us = s.i64(6);
  r.status = static_cast<int>(s.i64(7));
  r.ts_ms = s.i64(8);
  r.routed = s.i64(9) != 0;
  r.first_call_tier = s.text(10);
  r.shadow_target = s.text(11);
  r.router_version = s.text(12);
  r.shadow_router_version = s.text(13);
  return r;
}

// Columns: request_id, ts_ms, queue status (NULL: not queued), reasons (',' joined, sorted),
// route, model, tier, category, cost_usd, HTTP status, label, confidence (NULL: none).
template <class Row>
void read_review_item(const Row& s, ReviewItem& it) {
  it.request_id = s.text(0);
  it.ts_ms = s.i64(1);
  it.status = s.text(2);
  it.reasons = split_list(s.text(3), ',');
  it.route = s.text(4);
  it.model = s.text(5);
  it.tier = s.text(6);
  it.category = s.text(7);
  it.cost_usd = s.real(8);
  it.http_status = static_cast<int>(s.i64(9));
  it.label = s.text(10);
  if (!s.is_null(11)) it.confidence = s.real(11);
}

}  // namespace triage::telemetry
