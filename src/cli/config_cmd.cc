#include "cli/config_cmd.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "config/config_version.h"
#include "engine/built_config.h"
#include "engine/config_diff.h"

namespace triage::cli {

namespace {

const char* getenv_lookup(const char* name) { return std::getenv(name); }

// Loads and builds `path` as `serve` would; prints the error and returns null when it fails.
std::unique_ptr<engine::BuiltConfig> build_or_report(const std::string& path) {
  try {
    return engine::build_config(config::read_config_file(path), path, getenv_lookup);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return nullptr;
  }
}

int validate(const std::string& path) {
  std::unique_ptr<engine::BuiltConfig> built = build_or_report(path);
  if (!built) return 1;
  std::printf("ok: %zu models, %zu routes (sha256 %s)\n", built->cfg.models.size(),
              built->cfg.routes.size(), config::content_sha256(built->cfg.text).c_str());
  return 0;
}

int diff(const std::string& old_path, const std::string& new_path) {
  std::unique_ptr<engine::BuiltConfig> before = build_or_report(old_path);
  std::unique_ptr<engine::BuiltConfig> after = build_or_report(new_path);
  if (!before || !after) return 1;
  const std::vector<engine::ConfigChange> changes = engine::diff_configs(*before, *after);
  if (changes.empty()) std::printf("no changes\n");
  for (const engine::ConfigChange& c : changes) std::printf("%s\n", engine::describe(c).c_str());
  return 0;
}

}  // namespace

void add_config_commands(CLI::App& app, ConfigCommands& c) {
  auto* cmd = app.add_subcommand("config", "Check config files offline");
  cmd->require_subcommand(1);
  c.validate = cmd->add_subcommand(
      "validate", "Load a config as `serve` would (models, routes, trained files, keys' env)");
  c.validate->add_option("file", c.file, "Config file (YAML)")->required();
  c.diff = cmd->add_subcommand(
      "diff", "What applying NEW over OLD would change: models, prices, routes, knobs");
  c.diff->add_option("old", c.old_file, "The running config (YAML)")->required();
  c.diff->add_option("new", c.new_file, "The candidate config (YAML)")->required();
}

std::optional<int> run_config_commands(const ConfigCommands& c) {
  if (c.validate && c.validate->parsed()) return validate(c.file);
  if (c.diff && c.diff->parsed()) return diff(c.old_file, c.new_file);
  return std::nullopt;
}

}  // namespace triage::cli
