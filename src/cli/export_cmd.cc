#include "cli/export_cmd.h"

#include <sstream>

namespace triage::cli {

void add_export_commands(CLI::App& app, ExportCommands& c) {
  auto* exp = app.add_subcommand("export", "Export reviewed traffic as training data");
  exp->require_subcommand(1);

  c.finetune = exp->add_subcommand(
      "finetune", "OpenAI fine-tuning JSONL from approved or corrected answers");
  c.finetune->add_option("--store", c.finetune_opts.store_path, "Request store (a SQLite file, or a postgres:// URI)")
      ->required();
  c.finetune->add_option("--out", c.finetune_opts.out_path, "Output file (.jsonl)")->required();
  c.finetune->add_option("--category", c.finetune_opts.category, "Only this request category");
  c.finetune->add_option("--min-verdict", c.finetune_opts.min_verdict,
                         "correct (reviewer-approved or corrected) | feedback (also positive or "
                         "corrected user feedback)")
      ->check(CLI::IsMember({"correct", "feedback"}));

  c.labels = exp->add_subcommand(
      "labels", "Router training pairs (RouteLLM CSV, what `triage train router` reads)");
  c.labels->add_option("--store", c.labels_opts.store_path, "Request store (a SQLite file, or a postgres:// URI)")
      ->required();
  c.labels->add_option("--out", c.labels_opts.out_path, "Output file (.csv)")->required();
  c.labels->add_option("--format", c.labels_opts.format, "routellm")
      ->check(CLI::IsMember({"routellm"}));
  c.labels->add_option("--category", c.labels_opts.category, "Only this request category");
  c.labels->add_option("--tiers", c.tiers, "Tier order, cheapest first (default small,medium,large)");
  c.labels->add_option("--weak-tier", c.labels_opts.weak_tier, "Weak tier (default: the first)");
  c.labels->add_option("--strong-tier", c.labels_opts.strong_tier,
                       "Strong tier (default: the last)");
}

std::optional<int> run_export_commands(ExportCommands& c) {
  if (c.finetune && c.finetune->parsed()) return insights::run_export_finetune(c.finetune_opts);
  if (c.labels && c.labels->parsed()) {
    if (!c.tiers.empty()) {
      c.labels_opts.tiers.clear();
      std::stringstream ss(c.tiers);
      std::string t;
      while (std::getline(ss, t, ',')) {
        if (!t.empty()) c.labels_opts.tiers.push_back(t);
      }
    }
    return insights::run_export_labels(c.labels_opts);
  }
  return std::nullopt;
}

}  // namespace triage::cli
