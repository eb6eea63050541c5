#include "cli/serve_cmd.h"

#ifndef TRIAGE_NO_MIMALLOC
#include <mimalloc.h>
#endif
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>

#include "config/config.h"
#include "engine/builtins.h"
#include "server/gateway.h"

namespace triage::cli {

namespace {

// "HOST:PORT" or ":PORT" or "PORT" -> overrides server.host / server.port.
void apply_listen(config::Config& cfg, const std::string& listen) {
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
    throw config::ConfigError("--listen: expected HOST:PORT with a port from 0 to 65535, got '" +
                              listen + "'");
  }
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

int serve(const ServeCommands& c) {
  config::Config cfg = engine::load_config(c.config_path);
  // The command line's overrides, applied to the file at start-up and at every reload.
  // Relative to the working directory, like every path given on the command line.
  const std::string store_path =
      c.store_path.empty() ? std::string() : std::filesystem::absolute(c.store_path).string();
  engine::ConfigAdjust adjust = [listen = c.listen, store_path](config::Config& cfg) {
    if (!listen.empty()) apply_listen(cfg, listen);
    if (!store_path.empty()) cfg.store.path = store_path;
  };
  adjust(cfg);
  spdlog::set_level(spdlog::level::from_str(cfg.server.log_level));
  spdlog::info("triage {}, allocator {}", TRIAGE_VERSION, allocator_name());
  return server::serve(std::move(cfg), std::move(adjust));
}

}  // namespace

void add_serve_commands(CLI::App& app, ServeCommands& c) {
  c.serve = app.add_subcommand("serve", "Run the OpenAI-compatible gateway");
  c.serve->add_option("-c,--config", c.config_path, "Config file (YAML)")->required();
  c.serve->add_option("--listen", c.listen, "HOST:PORT to listen on (overrides server.host/port)");
  c.serve->add_option("--store", c.store_path, "Request store path (overrides store.path)");
  c.version = app.add_subcommand("version", "Print the version and the memory allocator");
}

std::optional<int> run_serve_commands(const ServeCommands& c) {
  if (c.version && c.version->parsed()) {
    std::printf("triage %s\nallocator: %s\n", TRIAGE_VERSION, allocator_name().c_str());
    return 0;
  }
  if (c.serve && c.serve->parsed()) return serve(c);
  return std::nullopt;
}

}  // namespace triage::cli
