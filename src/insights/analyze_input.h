#pragma once
// Internal to `triage analyze` (insights/analyze.h): loading traffic into the SQL relation `r`
// that every aggregate reads. `r` lives in a private scratch database (the compute engine of
// the analysis, not the store), so a log and a store are analysed by the same SQL. Columns:
//   category TEXT, tier TEXT, model TEXT, tokens_in INTEGER, tokens_out INTEGER,
//   cost_usd REAL, latency_ms REAL (NULL: unknown), ok INTEGER (1 success, 0 failure),
//   ctx TEXT (context class), reasoning TEXT (reasoning class), ts_ms INTEGER (NULL: unknown).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "telemetry/sqlite_db.h"
#include "telemetry/traffic_reader.h"

namespace triage::ml {
class ThresholdScorer;
}

namespace triage::insights {

struct LogImportContext {
  const config::Config* cfg = nullptr;            // optional: model -> tier, prices
  const ml::ThresholdScorer* router = nullptr;  // optional: reasoning from P(strong)
  double router_threshold = 0.5;
};

struct LogImportStats {
  int64_t rows = 0;
  int64_t bad = 0;
  std::vector<std::string> bad_examples;  // at most kMaxBadExamples
};

inline constexpr size_t kMaxBadExamples = 5;

// Creates table `r` in `db` (an empty scratch database) and fills it from a JSONL or CSV log
// (JSONL when the extension is .jsonl/.json/.ndjson, CSV when .csv, else by the first
// non-blank byte: '{' means JSONL). Bad rows are counted and skipped. Errors: the file cannot
// be read, or a CSV file is malformed as a whole (CsvError message).
Result<LogImportStats> import_log(telemetry::sqlite::Connection& db, const std::string& path,
                                  const LogImportContext& ctx);

// Creates table `r` in `db` (an empty scratch database) from the request store's traffic, one
// row at a time (TrafficReader::scan_traffic). The reasoning class of a routed request is the
// class of the tier its router picked first: `tiers` is the tier order, cheapest first
// (first: simple, last: complex, between: moderate). `model_tiers` (catalog model -> tier,
// from -c) lets a router deciding in shadow set it from the model it would have picked;
// empty: shadow decisions are ignored. A request without a routing decision is "unknown".
// `router_versions`, when given, counts the decisions per router version: {served, in shadow}.
// Returns the rows loaded.
Result<int64_t> import_store(
    telemetry::sqlite::Connection& db, telemetry::TrafficReader& store,
    const std::vector<std::string>& tiers,
    const std::map<std::string, std::string>& model_tiers = {},
    std::map<std::string, std::pair<int64_t, int64_t>>* router_versions = nullptr);

}  // namespace triage::insights
