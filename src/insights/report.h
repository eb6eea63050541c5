#pragma once
// `triage report`: what a request store says about the traffic it recorded.
//
// Without a config: requests, errors, tokens, cost, cost per request (CPI) and end-to-end
// latency p50/p95/p99 per model, per tier and per route, plus the trace flags.
//
// With a config (-c, the one the gateway ran): also
//  - the counterfactual "everything on the reference model" (config `reference_model`): per
//    request, the prompt's tokens (the FIRST model call's tokens_in: one call, as the
//    reference would make) and, as output, the reference's recorded answer length when its
//    replay dataset has an answer for the prompt, else the returned answer's tokens_out (the
//    LAST successful model call's), priced at the reference's prices; CPI against it and the
//    saving;
//  - quality against it: the recorded grade of the answer returned (the model-call span's
//    "grade", i.e. the replay score_column cell: docs/store.md) against the reference's
//    recorded grade for the same prompt (its replay dataset, looked up like a replay call),
//    over the requests that have both ("paired"); every other request is counted by reason
//    (synthesized placeholder, answer without a recorded grade, no reference grade, error);
//  - escalations (flags `cascaded`, `escalated`) and review flags (`flag_band`,
//    `low_confidence`);
//  - a plain statement of what is recorded and what is simulated, from the providers.
// The prompt is read from the store's `prompts` table (config store.keep_payloads); without
// it the counterfactual uses the returned answer's length and quality cannot be paired.
//
// read_report_rows() and summarize() are separate from printing so the numbers are testable.
// The store is opened read-only; safe while a gateway is writing to it (WAL).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace triage::insights {

// One model call as stored in the `spans` column (only what the report needs).
struct ReportCall {
  std::string model;
  std::string tier;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  double cost_usd = 0.0;
  bool ok = true;
  std::optional<double> grade;  // the span's "grade"
};

// One row of the `requests` table.
struct ReportRow {
  std::string request_id;
  std::string route;  // empty for a direct model call
  std::string model;  // the model whose answer was returned; empty on an error before a call
  std::string tier;
  int status = 200;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  bool tokens_estimated = false;
  double cost_usd = 0.0;
  int64_t total_us = 0;
  bool synthesized = false;
  std::vector<std::string> flags;
  std::vector<ReportCall> calls;  // model-call spans in order
  std::optional<std::string> prompt;  // last user message, from `prompts` when kept
};

// Reads every request row (and its prompt, when the `prompts` table has it). Errors name the
// file: cannot open, not a Triage store, malformed spans JSON.
Result<std::vector<ReportRow>> read_report_rows(const std::string& store_path);

// What the reference model recorded for a prompt.
struct ReferenceRecord {
  std::optional<double> grade;            // its recorded grade
  std::optional<int64_t> response_tokens; // its recorded answer's length (estimated tokens)
};
using ReferenceLookup = std::function<ReferenceRecord(std::string_view prompt)>;

struct GroupStats {
  std::string name;
  std::string tier;  // models: their tier
  int64_t requests = 0;
  int64_t errors = 0;  // status >= 400
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  double cost_usd = 0.0;
  double p50_ms = 0.0, p95_ms = 0.0, p99_ms = 0.0;  // successful requests, end to end
  double cpi_usd() const { return requests ? cost_usd / static_cast<double>(requests) : 0.0; }
};

struct ReportSummary {
  GroupStats all;
  std::vector<GroupStats> by_model;  // by name
  std::vector<GroupStats> by_tier;   // config tier order when known, then by name
  std::vector<GroupStats> by_route;  // "(direct)" for direct model calls
  // route -> tier -> requests answered there (successful requests)
  std::map<std::string, std::map<std::string, int64_t>> route_tiers;
  std::map<std::string, int64_t> flags;  // flag -> requests carrying it
  int64_t escalations = 0;               // cascaded + escalated
  int64_t review_flags = 0;              // flag_band + low_confidence
  int64_t synthesized = 0;
  std::map<std::string, int64_t> synthesized_by_model;
  int64_t tokens_estimated = 0;          // requests with an estimated token count
  int64_t with_prompt = 0;               // requests whose prompt the store kept

  // With a reference model (summarize() got one).
  std::string reference_model;
  double counterfactual_cost_usd = 0.0;
  std::map<std::string, double> counterfactual_by_route;  // same, per route ("(direct)")
  int64_t counterfactual_recorded_lengths = 0;  // output length = the reference's recording
  // Quality over `paired` requests: mean recorded grade of the answers returned vs the
  // reference's recorded grades for the same prompts.
  int64_t paired = 0;
  double quality = 0.0;
  double counterfactual_quality = 0.0;
  int64_t ungraded_synthesized = 0;   // placeholder answers: never graded
  int64_t ungraded_no_grade = 0;      // the answer has no recorded grade (e.g. the local tier)
  int64_t ungraded_no_reference = 0;  // graded answer, but no reference grade (or no prompt)
  int64_t ungraded_errors = 0;        // status >= 400

  double counterfactual_cpi_usd() const {
    return all.requests ? counterfactual_cost_usd / static_cast<double>(all.requests) : 0.0;
  }
};

// Aggregates rows. `cfg` (optional) orders tiers; `reference` (optional, needs cfg) enables the
// counterfactual and quality parts with the reference model `cfg->reference_model`.
ReportSummary summarize(const std::vector<ReportRow>& rows, const config::Config* cfg,
                        const ReferenceLookup* reference);

// The reference lookup of a config: its reference model's replay dataset when it is a replay
// model (throws config::ConfigError like the replay provider when the dataset is unusable);
// std::nullopt for any other provider (no recordings: lengths fall back, nothing is paired).
std::optional<ReferenceLookup> reference_lookup(const config::Config& cfg);

// The printed report. `cfg` adds the recorded/simulated statement.
std::string report_text(const ReportSummary& s, const std::string& store_path,
                        const config::Config* cfg);

struct ReportOptions {
  std::string store_path;   // --store
  std::string config_path;  // -c, optional
};

// Prints the report to stdout; returns a process exit code (1: the store cannot be read, 2:
// the config cannot be loaded).
int run_report(const ReportOptions& options);
inline int print_report(const std::string& store_path) { return run_report({store_path, ""}); }

}  // namespace triage::insights
