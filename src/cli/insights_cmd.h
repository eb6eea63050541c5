#pragma once
// `triage report`, `triage roi` and `triage analyze`: flags and hand-off, kept out of main.cc
// (insights/report.h, insights/roi.h and insights/analyze.h say what the commands do).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>

#include "insights/analyze.h"
#include "insights/report.h"
#include "insights/roi.h"

namespace triage::cli {

struct InsightsCommands {
  CLI::App* report = nullptr;
  CLI::App* roi = nullptr;
  CLI::App* analyze = nullptr;
  insights::ReportOptions report_opts;
  insights::RoiOptions roi_opts;
  int64_t roi_requests = 0;  // --requests-per-month, copied into roi_opts when given
  insights::AnalyzeOptions analyze_opts;
  double analyze_period = 0.0;  // --period-days, copied into analyze_opts when given
};

// Adds `report`, `roi` and `analyze` to `app`; `cmds` must outlive parsing.
void add_insights_commands(CLI::App& app, InsightsCommands& cmds);

// After parsing: the exit code when one of them ran, else nullopt.
std::optional<int> run_insights_commands(InsightsCommands& cmds);

}  // namespace triage::cli
