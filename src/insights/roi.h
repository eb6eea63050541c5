#pragma once
// `triage roi`: the business case for routing. From a monthly volume, the current cost per
// inference (CPI) and the mix of tiers after routing (share and CPI of each), it computes the
// monthly and annual cost before and after, the savings and the payback period of the
// engineering cost. docs/roi.md has the formulas and the worked example.
//
// Exactness: shares and CPIs are parsed from their decimal text into integers (shares in parts
// per 10^9, CPIs in nano-USD), and costs are summed as exact integers (10^-18 USD, 128-bit);
// dollar figures are rounded half away from zero to the cent only when printed. So the seed's
// example prints $54,400 / $95,600 / $1,147,200, never $54,399.99. Inputs with more than nine
// decimals are rounded to nine.
//
// Errors are values (Result) with a message that names the offending input; run_roi() prints
// them to stderr and returns exit code 2. Pure apart from run_roi() and roi_input_from_store().
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace triage::insights {

inline constexpr int64_t kPartsPerUnit = 1'000'000'000;  // shares: parts per 10^9
inline constexpr int64_t kNanoPerUsd = 1'000'000'000;    // CPIs: nano-USD per USD

// Parses a non-negative decimal ("0.15", "300000", "$1.50", ".5") into an integer scaled by
// 10^9, rounding half up beyond nine decimals. `what` names the input in the error message.
Result<int64_t> parse_decimal_e9(std::string_view text, std::string_view what);

struct MixItem {
  std::string name;       // "#1", "#2"... for --mix; the tier name with --from-store
  int64_t share_ppb = 0;  // share of requests, parts per 10^9
  int64_t cpi_nusd = 0;   // cost per request on this tier, nano-USD
  int64_t requests = 0;   // --from-store: rows observed on this tier (0 for --mix)
};

// "SHARE@CPI,SHARE@CPI,...", e.g. "0.4@0.001,0.3@0.03,0.3@0.15". Errors name the item
// ("--mix item 2 '0.3-0.03': expected SHARE@CPI"). Checks each number, not the sum.
Result<std::vector<MixItem>> parse_mix(std::string_view text);

struct RoiInput {
  int64_t requests_per_month = 0;
  int64_t current_cpi_nusd = 0;       // today's CPI (everything on the current model)
  std::vector<MixItem> mix;           // after routing; shares sum to 1 (within 1e-6)
  int64_t engineering_cost_usd_e9 = 0;  // one-off, USD * 10^9 (0: no payback figure)
  std::string source = "command line";  // or "store FILE (...)" with --from-store
  std::vector<std::string> notes;       // assumptions to print (from-store derivations)
};

struct RoiResult {
  RoiInput input;
  // All money in USD * 10^18 (exact); use the *_usd() accessors or format_usd_cents().
  __extension__ typedef __int128 Wide;
  Wide monthly_before = 0;
  Wide monthly_after = 0;
  std::vector<Wide> item_monthly;  // per mix item, same order
  Wide monthly_savings() const { return monthly_before - monthly_after; }
  double savings_pct() const;                  // 0 when before is 0
  std::optional<double> payback_months() const;  // nullopt without savings or cost
};

// Validates (non-negative volume, shares summing to 1 within 1e-6, at least one item) and
// computes. Errors name what is wrong ("--mix shares sum to 0.9, expected 1").
Result<RoiResult> compute_roi(const RoiInput& input);

// Rounds USD * 10^18 to whole cents (half away from zero).
int64_t to_cents(RoiResult::Wide usd_e18);
// "$54,400" when the cents are zero, else "$54,400.50"; negative as "-$1,200".
std::string format_usd_cents(int64_t cents);
// Exact decimal of a nano-USD amount without trailing zeros: 1'000'000 -> "$0.001".
std::string format_usd_nano(int64_t nusd);

std::string roi_text(const RoiResult& r);
boost::json::object roi_json(const RoiResult& r);

// --from-store: the mix per tier from the store's rows (share = rows on the tier / all rows,
// CPI = the tier's cost / its rows) and, as the current CPI, the counterfactual: the same
// tokens at the reference model's prices (cfg.reference_model), averaged over all rows.
// requests_per_month: given, or the store's volume scaled to 30 days from its time span.
// Reads the store read-only with GROUP BY (scales to millions of rows).
Result<RoiInput> roi_input_from_store(const std::string& store_path, const config::Config& cfg,
                                      std::optional<int64_t> requests_per_month);

struct RoiOptions {
  std::optional<int64_t> requests_per_month;
  std::string current_cpi;       // decimal text
  std::string mix;               // SHARE@CPI,...
  std::string engineering_cost;  // decimal text, optional
  std::string from_store;        // store path; requires config_path
  std::string config_path;       // -c
  std::string format = "text";   // text | json
};

// CLI entry: validates flags, computes, prints to stdout. Returns 0, or 2 on bad input
// (message on stderr).
int run_roi(const RoiOptions& options);

}  // namespace triage::insights
