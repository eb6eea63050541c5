#pragma once
// The row of a trace: what every request store backend writes for one finished request, in
// one place (docs/store.md "Schema"), so SQLite (sqlite_store.cc) and PostgreSQL
// (pg_store.cc) cannot drift apart. Backend-neutral: typed values, no SQL types. Also the
// in-memory rollup of a batch (docs/store.md "Rollup") and the `prompts` row's attempts.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

#include "core/trace.h"

namespace triage::telemetry {

// The columns of table `requests`, in the order RequestRow holds their values.
inline constexpr size_t kRequestColumnCount = 35;
extern const std::array<const char*, kRequestColumnCount> kRequestColumns;

// One column value: NULL, an integer (booleans are 0/1), a real, or text.
using RowValue = std::variant<std::monostate, int64_t, double, std::string_view>;

// The values of one `requests` row. Text values point into the trace the row was made from
// and into `flags`/`spans` (owned here): the row must not outlive that trace, nor be copied
// (move it only while no view into flags/spans has been taken, i.e. never: fill it in place).
struct RequestRow {
  std::array<RowValue, kRequestColumnCount> values;
  std::string flags;  // JSON array (trace_json.h)
  std::string spans;  // JSON array (trace_json.h)
  RequestRow() = default;
  RequestRow(const RequestRow&) = delete;
  RequestRow& operator=(const RequestRow&) = delete;
};

// Fills `row` from `t`. Empty optional text is NULL; confidence is NULL without a label;
// config_version is NULL when 0 (offline).
void make_request_row(const core::Trace& t, RequestRow& row);

// The `prompts` row's attempts: [{"model","tier","ok","output"}] per model call, in order.
std::string prompt_attempts_json(const core::Trace& t);

// The rollups of one batch, merged in memory so that each distinct key costs one upsert per
// batch and table (docs/store.md "Rollup"). One writer thread owns it.
struct RollupKey {
  int64_t minute = 0;  // ts_ms / 60000; rollup_hour: the hour's first minute
  std::string model, tier, route, category, cohort;  // '' for NULL (key columns)
  bool operator<(const RollupKey& o) const {
    return std::tie(minute, model, tier, route, category, cohort) <
           std::tie(o.minute, o.model, o.tier, o.route, o.category, o.cohort);
  }
};
struct RollupSums {
  int64_t requests = 0, client_errors = 0, server_errors = 0, timeouts = 0;
  double cost_usd = 0.0;
  int64_t tokens_in = 0, tokens_out = 0, upstream_us = 0, total_us = 0;
};
// rollup_minute, rollup_hour (same key, minute rounded down to the hour), rollup_model_minute
// (minute and model only; the other key columns '').
inline constexpr size_t kRollupLevels = 3;
inline constexpr const char* kRollupTables[kRollupLevels] = {"rollup_minute", "rollup_hour",
                                                             "rollup_model_minute"};
// The rollup columns after the key, in RollupSums order (for the upserts).
inline constexpr const char* kRollupSumColumns[] = {"requests",   "client_errors", "server_errors",
                                                    "timeouts",   "cost_usd",      "tokens_in",
                                                    "tokens_out", "upstream_us",   "total_us"};

class RollupBatch {
 public:
  // A row just inserted into the batch's transaction.
  void add(const core::Trace& t);
  void clear();
  const std::map<RollupKey, RollupSums>& level(size_t i) const { return levels_[i]; }

 private:
  std::map<RollupKey, RollupSums> levels_[kRollupLevels];
};

}  // namespace triage::telemetry
