#include "cli/insights_cmd.h"

namespace triage::cli {

namespace {

void add_report(CLI::App& app, InsightsCommands& c) {
  insights::ReportOptions& o = c.report_opts;
  c.report = app.add_subcommand(
      "report", "Summarise the request store: traffic, cost and latency per model/tier/route; "
                "with -c also CPI and quality against the reference model");
  c.report->add_option("--store", o.store_path, "Request store (a SQLite file, or a postgres:// URI)")->required();
  c.report->add_option("-c,--config", o.config_path,
                       "Config the gateway ran (prices, reference model, replay recordings)");
}

void add_roi(CLI::App& app, InsightsCommands& c) {
  insights::RoiOptions& o = c.roi_opts;
  c.roi = app.add_subcommand("roi", "Business case: monthly/annual cost before and after "
                                    "routing, savings, payback period");
  c.roi->add_option("--requests-per-month", c.roi_requests, "Requests per month");
  c.roi->add_option("--current-cpi", o.current_cpi, "Current cost per inference, USD");
  c.roi->add_option("--mix", o.mix, "Tier mix after routing: SHARE@CPI,... (shares sum to 1)");
  c.roi->add_option("--engineering-cost", o.engineering_cost, "One-off engineering cost, USD");
  c.roi->add_option("--from-store", o.from_store,
                    "Take the mix and current CPI from a request store (needs -c)");
  c.roi->add_option("-c,--config", o.config_path, "Config (reference model prices)");
  c.roi->add_option("--format", o.format, "text | json")->check(CLI::IsMember({"text", "json"}));
}

void add_analyze(CLI::App& app, InsightsCommands& c) {
  insights::AnalyzeOptions& o = c.analyze_opts;
  c.analyze = app.add_subcommand(
      "analyze", "Analyse traffic (request store or JSONL/CSV log): categories, complexity, "
                 "cost, latency, routing opportunities");
  c.analyze->add_option("--store", o.store_path, "Request store (a SQLite file, or a postgres:// URI)");
  c.analyze->add_option("--log", o.log_path, "Traffic log (.jsonl or .csv; docs/analyze.md)");
  c.analyze->add_option("-c,--config", o.config_path, "Config: tiers, model tiers, prices");
  c.analyze->add_option("--router", o.router_path,
                        "Router model (.bin) for the reasoning class (--log)");
  c.analyze->add_option("--router-threshold", o.router_threshold,
                        "Router score at which a prompt is complex (default 0.5; 0 for a gain "
                        "scorer)");
  c.analyze->add_option("--slo", o.slo, "Success rate a tier must reach (default 0.99)");
  c.analyze->add_option("--min-samples", o.min_samples,
                        "Requests needed to trust an observed rate");
  c.analyze->add_option("--period-days", c.analyze_period,
                        "Days the input covers (default: from timestamps)");
  c.analyze->add_option("--format", o.format, "text | json")
      ->check(CLI::IsMember({"text", "json"}));
  c.analyze->add_option("--html", o.html_path, "Also write a self-contained HTML report");
}

}  // namespace

void add_insights_commands(CLI::App& app, InsightsCommands& c) {
  add_report(app, c);
  add_roi(app, c);
  add_analyze(app, c);
}

std::optional<int> run_insights_commands(InsightsCommands& c) {
  if (c.roi && c.roi->parsed()) {
    if (c.roi->count("--requests-per-month") > 0) c.roi_opts.requests_per_month = c.roi_requests;
    return insights::run_roi(c.roi_opts);
  }
  if (c.analyze && c.analyze->parsed()) {
    if (c.analyze->count("--period-days") > 0) c.analyze_opts.period_days = c.analyze_period;
    return insights::run_analyze(c.analyze_opts);
  }
  if (c.report && c.report->parsed()) return insights::run_report(c.report_opts);
  return std::nullopt;
}

}  // namespace triage::cli
