#pragma once
// The provider extension point: how to call one catalog model. One ModelClient per model,
// built once from config by the factory registered under the provider's `provider:` name.
//
// Threading: a ModelClient is shared by all I/O threads; complete()/stream() may run
// concurrently on any of them and must be safe for that (per-thread connection pools).
// Every call honours `deadline` (kUpstreamTimeout when it passes) and never throws: failures
// are Results, because fallbacks and cascades act on them.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "core/chat.h"

namespace triage::providers {

struct CallStats {
  int64_t ttfb_us = 0;   // request sent -> first byte of the answer (first token when streaming)
  int64_t total_us = 0;  // request sent -> answer complete
};

class ModelClient {
 public:
  virtual ~ModelClient() = default;
  // Versioned implementation name recorded in traces, e.g. "openai/1".
  virtual std::string_view name() const = 0;
  // Non-streaming call. Fills usage from the upstream when it reports it.
  virtual boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                                    SteadyTime deadline,
                                                                    CallStats& stats) = 0;
  // Streaming call: writes deltas to `sink` as they arrive (never buffers the whole answer),
  // and returns the assembled Completion (content, finish_reason, usage) at the end. If
  // sink.write() returns false the call stops early with kCancelled.
  virtual boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                                  SteadyTime deadline,
                                                                  CallStats& stats,
                                                                  core::StreamSink& sink) = 0;
};

// Environment lookup, injectable so tests can provide keys without touching the process env.
using EnvLookup = std::function<const char*(const char*)>;

// Builds the client for a model; throws config::ConfigError (with the model's line) when the
// model's options are unusable (dataset missing, key env var unset...).
using ProviderFactory = std::function<std::unique_ptr<ModelClient>(
    const config::Config& cfg, const config::Model& model, const EnvLookup& env)>;

// Registry of provider factories by `provider:` name. The built-in ones register themselves in
// register_builtin_providers(); tests may add their own.
class ProviderRegistry {
 public:
  void add(std::string name, ProviderFactory factory);
  const ProviderFactory* find(std::string_view name) const;
  std::unique_ptr<ModelClient> create(const config::Config& cfg, const config::Model& model,
                                      const EnvLookup& env) const;  // throws ConfigError

 private:
  std::map<std::string, ProviderFactory, std::less<>> factories_;
};

void register_builtin_providers(ProviderRegistry& registry);

}  // namespace triage::providers
