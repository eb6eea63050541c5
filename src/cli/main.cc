// triage: thin command-line front end. Parses flags, loads config, hands off to a module.
#include <CLI/CLI.hpp>
#ifndef TRIAGE_NO_MIMALLOC
#include <mimalloc.h>
#endif
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "cli/export_cmd.h"
#include "config/config.h"
#include "ml/intent_trainer.h"
#include "insights/analyze.h"
#include "eval/eval.h"
#include "insights/report.h"
#include "insights/roi.h"
#include "train/train_multi_router.h"
#include "train/train_router.h"
#include "train/train_scorer.h"
#include "server/gateway.h"

namespace {

// "HOST:PORT" or ":PORT" or "PORT" -> overrides server.host / server.port.
void apply_listen(triage::config::Config& cfg, const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  if (!host.empty()) cfg.server.host = host;
  try {
    size_t used = 0;
    int p = std::stoi(port, &used);
    if (used != port.size() || p < 0 || p > 65535) throw std::invalid_argument("range");
    cfg.server.port = p;
  } catch (const std::exception&) {
    throw triage::config::ConfigError("--listen: expected HOST:PORT with a port from 0 to 65535, got '" +
                                      listen + "'");
  }
}

spdlog::level::level_enum parse_level(const std::string& s) {
  auto l = spdlog::level::from_str(s);
  return l;
}

// mi_version() is MMMmmpp (2.0.9 -> 209). Referencing it also keeps the link to mimalloc, whose
// malloc/free replace glibc's for the whole process.
// "malloc override: no" means glibc's malloc won the symbol lookup (link order) and mimalloc is idle.
std::string allocator_name() {
#ifdef TRIAGE_NO_MIMALLOC
  return "glibc malloc (sanitizer build)";
#else
  const int v = mi_version();
  void* probe = std::malloc(16);
  const bool overrides = mi_is_in_heap_region(probe);
  std::free(probe);
  return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
         std::to_string(v % 10) + (overrides ? " (malloc override: yes)" : " (malloc override: no)");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Triage: a multi-model LLM gateway that routes each request to the cheapest model "
               "that can handle it"};
  app.require_subcommand(1);

  std::string config_path, listen, store_path;
  auto* serve = app.add_subcommand("serve", "Run the OpenAI-compatible gateway");
  serve->add_option("-c,--config", config_path, "Config file (YAML)")->required();
  serve->add_option("--listen", listen, "HOST:PORT to listen on (overrides server.host/port)");
  serve->add_option("--store", store_path, "Request store path (overrides store.path)");

  auto* version = app.add_subcommand("version", "Print the version and the memory allocator");

  std::string train_file, val_file, out_file;
  auto* train = app.add_subcommand("train", "Train in-process models from labeled data");
  train->require_subcommand(1);
  auto* train_intent = train->add_subcommand("intent", "Intent classifier from CLINC150-format JSON lines");
  train_intent->add_option("--train", train_file, "Training data (JSON lines: text, intent)")->required();
  train_intent->add_option("--val", val_file, "Validation data (same format)")->required();
  train_intent->add_option("--out", out_file, "Model path (.bin); metadata goes next to it")->required();

  triage::train::TrainRouterOptions router_opts;
  auto* train_router = train->add_subcommand(
      "router", "Weak/strong router scorer from a pair dataset (RouteLLM format)");
  train_router->add_option("--dataset", router_opts.dataset, "CSV: prompt, weak_correct, strong_correct")
      ->required();
  train_router->add_option("--out", router_opts.out_path, "Model path (.bin); metadata next to it")
      ->required();
  train_router->add_option("--label", router_opts.label, "auto | strong_needed | weak_fails");
  train_router->add_option("--scorer", router_opts.scorer,
                           "auto | stack | gain (served scorer; auto: higher cross-validated APGR)");
  train_router->add_option("--features", router_opts.features, "auto | prompt | category+prompt");
  train_router->add_option("--seed", router_opts.split.seed, "Seed of the fixed train/test split");
  train_router->add_option("--folds", router_opts.folds,
                           "Cross-fitting folds over the train part (default 5)");
  train_router->add_option("--category-smoothing", router_opts.category_smoothing,
                           "Candidate pseudo-row counts for the category rates (default 2 5 10 "
                           "20 50; the best out-of-fold is kept)");

  triage::train::TrainMultiRouterOptions multi_opts;
  auto* train_multi = train->add_subcommand(
      "multi-router", "Per-model score predictor from RouterBench-format data");
  train_multi->add_option("--dataset", multi_opts.datasets, "CSV (repeatable; rows are pooled)")
      ->required();
  train_multi->add_option("--out", multi_opts.out_path, "Model path (.bin); metadata next to it")
      ->required();
  train_multi->add_option("--model", multi_opts.models, "Candidate model (repeatable; default: all)");
  train_multi->add_option("--seed", multi_opts.split.seed, "Seed of the fixed train/test split");
  train_multi->add_option("--threads", multi_opts.threads, "fastText threads (1 = reproducible)");

  triage::train::TrainScorerOptions scorer_opts;
  auto* train_scorer = train->add_subcommand(
      "cascade-scorer", "Cascade acceptance scorer from prompt + cheap response + grade");
  train_scorer->add_option("--dataset", scorer_opts.dataset, "CSV: prompt, response and grade columns")
      ->required();
  train_scorer->add_option("--out", scorer_opts.out_path, "Model path (.bin); metadata next to it")
      ->required();
  train_scorer->add_option("--prompt-column", scorer_opts.prompt_column, "default prompt");
  train_scorer->add_option("--response-column", scorer_opts.response_column, "default weak_response");
  train_scorer->add_option("--label-column", scorer_opts.label_column, "default weak_correct");
  train_scorer->add_option("--strong-column", scorer_opts.strong_column, "auto | none | COLUMN");
  train_scorer->add_option("--features", scorer_opts.features, "auto | e.g. cheap+prompt+response");
  train_scorer->add_option("--seed", scorer_opts.split.seed, "Seed of the fixed train/test split");

  triage::eval::EvalOptions eval_opts;
  auto* eval = app.add_subcommand(
      "eval", "Run a route over a dataset in-process (same engine as serve) and score it");
  eval->add_option("-c,--config", eval_opts.config_path, "Config file (YAML)")->required();
  eval->add_option("--route", eval_opts.route, "Route to evaluate (default: default)");
  eval->add_option("--dataset", eval_opts.dataset, "Dataset file")->required();
  eval->add_flag("--sweep", eval_opts.sweep, "Sweep the route's knob over its range");
  eval->add_option("--format", eval_opts.format, "text | json")->check(CLI::IsMember({"text", "json"}));
  eval->add_option("--plot", eval_opts.plot_path, "Write the cost-quality curve as SVG (.svg) or PNG (.png)");
  eval->add_option("--split", eval_opts.split, "auto | test | all")->check(CLI::IsMember({"auto", "test", "all"}));
  eval->add_option("--exclude-category", eval_opts.exclude_categories, "Leave a category out (repeatable)");

  // --- triage report (insights/report.h) ---
  triage::insights::ReportOptions report_opts;
  auto* report = app.add_subcommand(
      "report", "Summarise the request store: traffic, cost and latency per model/tier/route; "
                "with -c also CPI and quality against the reference model");
  report->add_option("--store", report_opts.store_path, "Request store (SQLite file)")->required();
  report->add_option("-c,--config", report_opts.config_path,
                     "Config the gateway ran (prices, reference model, replay recordings)");
  // --- end report ---

  // --- triage export finetune|labels (review loop; cli/export_cmd.cc) ---
  triage::cli::ExportCommands export_cmds;
  triage::cli::add_export_commands(app, export_cmds);
  // --- end export ---

  // --- triage roi | triage analyze (insights/roi.h, insights/analyze.h) ---
  triage::insights::RoiOptions roi_opts;
  int64_t roi_requests = 0;
  auto* roi = app.add_subcommand("roi", "Business case: monthly/annual cost before and after "
                                        "routing, savings, payback period");
  roi->add_option("--requests-per-month", roi_requests, "Requests per month");
  roi->add_option("--current-cpi", roi_opts.current_cpi, "Current cost per inference, USD");
  roi->add_option("--mix", roi_opts.mix, "Tier mix after routing: SHARE@CPI,... (shares sum to 1)");
  roi->add_option("--engineering-cost", roi_opts.engineering_cost, "One-off engineering cost, USD");
  roi->add_option("--from-store", roi_opts.from_store,
                  "Take the mix and current CPI from a request store (needs -c)");
  roi->add_option("-c,--config", roi_opts.config_path, "Config (reference model prices)");
  roi->add_option("--format", roi_opts.format, "text | json")->check(CLI::IsMember({"text", "json"}));

  triage::insights::AnalyzeOptions analyze_opts;
  double analyze_period = 0.0;
  auto* analyze = app.add_subcommand(
      "analyze", "Analyse traffic (request store or JSONL/CSV log): categories, complexity, "
                 "cost, latency, routing opportunities");
  analyze->add_option("--store", analyze_opts.store_path, "Request store (SQLite file)");
  analyze->add_option("--log", analyze_opts.log_path, "Traffic log (.jsonl or .csv; docs/analyze.md)");
  analyze->add_option("-c,--config", analyze_opts.config_path, "Config: tiers, model tiers, prices");
  analyze->add_option("--router", analyze_opts.router_path, "Router model (.bin) for the reasoning class (--log)");
  analyze->add_option("--router-threshold", analyze_opts.router_threshold,
                      "Router score at which a prompt is complex (default 0.5; 0 for a gain scorer)");
  analyze->add_option("--slo", analyze_opts.slo, "Success rate a tier must reach (default 0.99)");
  analyze->add_option("--min-samples", analyze_opts.min_samples, "Requests needed to trust an observed rate");
  analyze->add_option("--period-days", analyze_period, "Days the input covers (default: from timestamps)");
  analyze->add_option("--format", analyze_opts.format, "text | json")->check(CLI::IsMember({"text", "json"}));
  analyze->add_option("--html", analyze_opts.html_path, "Also write a self-contained HTML report");
  // --- end roi / analyze ---

  CLI11_PARSE(app, argc, argv);

  try {
    if (auto code = triage::cli::run_export_commands(export_cmds)) return *code;  // export
    if (version->parsed()) {
      std::printf("triage %s\nallocator: %s\n", TRIAGE_VERSION, allocator_name().c_str());
      return 0;
    }
    if (serve->parsed()) {
      triage::config::Config cfg = triage::config::load_config(config_path);
      if (!listen.empty()) apply_listen(cfg, listen);
      // Relative to the working directory, like every path given on the command line.
      if (!store_path.empty()) cfg.store.path = std::filesystem::absolute(store_path).string();
      spdlog::set_level(parse_level(cfg.server.log_level));
      spdlog::info("triage {}, allocator {}", TRIAGE_VERSION, allocator_name());
      return triage::server::serve(std::move(cfg));
    }
    if (train_intent->parsed()) {
      auto r = triage::ml::train_intent_model(train_file, val_file, out_file);
      std::printf(
          "trained %s: %d labels, validation accuracy %.4f, calibrated on %lld held-out rows "
          "(validation ECE %.3f -> %.3f), %.1f s\n",
          out_file.c_str(), static_cast<int>(r.n_labels), r.validation_accuracy,
          static_cast<long long>(r.n_calibration), r.ece_validation_raw,
          r.ece_validation_calibrated, r.train_seconds);
      return 0;
    }
    if (train_router->parsed()) return triage::train::run_train_router(router_opts);
    if (train_scorer->parsed()) return triage::train::run_train_scorer(scorer_opts);
    if (train_multi->parsed()) return triage::train::run_train_multi_router(multi_opts);
    if (eval->parsed()) return triage::eval::run_eval(eval_opts);
    if (roi->parsed()) {  // roi
      if (roi->count("--requests-per-month") > 0) roi_opts.requests_per_month = roi_requests;
      return triage::insights::run_roi(roi_opts);
    }
    if (analyze->parsed()) {  // analyze
      if (analyze->count("--period-days") > 0) analyze_opts.period_days = analyze_period;
      return triage::insights::run_analyze(analyze_opts);
    }
    if (report->parsed()) {
      return triage::insights::run_report(report_opts);
    }
  } catch (const triage::config::ConfigError& e) {
    std::fprintf(stderr, "triage: config error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "triage: %s\n", e.what());
    return 1;
  }
  return 0;
}
