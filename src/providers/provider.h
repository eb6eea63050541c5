#pragma once
// The provider extension point: how to call one catalog model. One ModelClient per model,
// built once from config by the factory registered under the provider's `provider:` name.
// A provider owns its part of the config: its `<name>:` options block (kept as YAML by config,
// read by the provider's own parse function) and its rules about endpoint/api_key_env. Adding
// one is its own files plus one line in register_builtin_providers().
//
// Threading: a ModelClient is shared by all I/O threads; complete()/stream() may run
// concurrently on any of them and must be safe for that (per-thread connection pools).
// Every call honours `deadline` (kUpstreamTimeout when it passes) and never throws: failures
// are Results, because fallbacks and cascades act on them.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "control/upstream_failure.h"
#include "core/chat.h"

namespace triage::providers {

struct CallStats {
  int64_t ttfb_us = 0;   // request sent -> first byte of the answer (first token when streaming)
  int64_t total_us = 0;  // request sent -> answer complete
  // Set on every failed call that reached for the upstream: the typed facts the retry policy
  // and the circuit breaker decide from (never the error's text). Unset on success, on
  // cancellation and on failures before any upstream contact (a missing key).
  std::optional<control::UpstreamFailure> failure;
};

// An upstream's embeddings answer: the list object as it came (the vectors are passed through,
// float or base64), and the input tokens it reported (usage.prompt_tokens).
struct EmbeddingAnswer {
  boost::json::value list;
  int64_t prompt_tokens = 0;
  bool reported_usage = false;  // false: prompt_tokens is 0 and the caller estimates
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
  // POST /embeddings with `body` (the client's, `model` rewritten to the upstream's name).
  // Only OpenAI-compatible providers embed; the others answer kInvalidRequest.
  virtual boost::asio::awaitable<Result<EmbeddingAnswer>> embed(const boost::json::object& body,
                                                                SteadyTime deadline,
                                                                CallStats& stats,
                                                                Cancellation* cancellation);
};

// Environment lookup, injectable so tests can provide keys without touching the process env.
using EnvLookup = std::function<const char*(const char*)>;

// Builds the client for a model; throws config::ConfigError (at the field, or with the model's
// line) when the model's options are unusable (dataset missing, key with a line break...).
using ProviderFactory = std::function<std::unique_ptr<ModelClient>(
    const config::Config& cfg, const config::Model& model, const EnvLookup& env)>;

// Checks what is the provider's in a model's config, without building anything: parses its
// options block and applies its rules about endpoint/api_key_env. Throws config::ConfigError
// at the field. Pure and cheap: run at load (config::ProviderCatalog) and again by create().
using ProviderCheck = std::function<void(const config::Config& cfg, const config::Model& model)>;

// A provider as registered.
struct ProviderType {
  ProviderCheck check;  // empty: nothing to check
  ProviderFactory create;
};

// Registry of providers by `provider:` name, in registration order. The built-in ones are
// registered by register_builtin_providers(); tests and `triage eval` may add or wrap their
// own. It is also the config loader's catalog of provider names and rules. Filled at start-up;
// read-only (and thread-safe) afterwards.
class ProviderRegistry final : public config::ProviderCatalog {
 public:
  // Registers `type` under `name`, replacing a provider of that name.
  void add(std::string name, ProviderType type);
  // Registers or replaces only the factory: a provider registered before keeps its check (how
  // `triage eval` wraps a built-in provider's clients); a new name gets no check.
  void add(std::string name, ProviderFactory factory);
  const ProviderFactory* find(std::string_view name) const;
  // Checks the model (check_model()), then builds its client. Throws config::ConfigError.
  std::unique_ptr<ModelClient> create(const config::Config& cfg, const config::Model& model,
                                      const EnvLookup& env) const;

  // config::ProviderCatalog. check_model() refuses an unregistered provider at
  // models[i].provider, naming the registered ones.
  std::vector<std::string> provider_names() const override;
  void check_model(const config::Config& cfg, const config::Model& model) const override;

 private:
  struct Entry {
    std::string name;
    ProviderType type;
  };
  const Entry* entry(std::string_view name) const;
  Entry& entry_for(std::string name);  // existing or appended

  std::vector<Entry> entries_;  // registration order
};

void register_builtin_providers(ProviderRegistry& registry);

}  // namespace triage::providers
