#pragma once
// Internal to `triage analyze` (insights/analyze.h): loading traffic into the SQL relation `r`
// that every aggregate reads. Columns of r:
//   category TEXT, tier TEXT, model TEXT, tokens_in INTEGER, tokens_out INTEGER,
//   cost_usd REAL, latency_ms REAL (NULL: unknown), ok INTEGER (1 success, 0 failure),
//   ctx TEXT (context class), reasoning TEXT (reasoning class), ts_ms INTEGER (NULL: unknown).
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

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

// Creates table `r` in `db` (an empty in-memory database) and fills it from a JSONL or CSV log
// (JSONL when the extension is .jsonl/.json/.ndjson, CSV when .csv, else by the first
// non-blank byte: '{' means JSONL). Bad rows are counted and skipped. Errors: the file cannot
// be read, or a CSV file is malformed as a whole (CsvError message).
Result<LogImportStats> import_log(sqlite3* db, const std::string& path,
                                  const LogImportContext& ctx);

// Creates TEMP TABLE `r` from the store's `requests` table (open read-only as `main`; the span
// JSON is parsed once, here, not by every aggregate). `tiers` is
// the tier order, cheapest first, used to map the first routed tier to a reasoning class.
// `model_tiers` (catalog model -> tier, from -c) lets a shadow router's decisions
// ("shadow decision: MODEL ...") set the reasoning class; empty: they are ignored.
Result<void> create_store_view(sqlite3* db, const std::vector<std::string>& tiers,
                               const std::map<std::string, std::string>& model_tiers = {});

}  // namespace triage::insights
