#pragma once
// Typed configuration. load_config() parses triage.yaml into these structs; every error names
// the file, line and field path ("triage.yaml:14: models[2].prices.input: expected a number").
// Defaults are on the fields. Built once at start-up; read-only afterwards (thread-safe reads).
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/resilience_config.h"
#include "config/slo_config.h"
#include "core/review_flag.h"

namespace triage::config {

// Thrown only while loading; the message is complete ("file:line: path: what is wrong").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// USD. Token prices are per 1M tokens, as providers publish them.
struct Prices {
  double input_per_mtok = 0.0;
  double output_per_mtok = 0.0;
  double cached_input_per_mtok = -1.0;  // < 0: cached input is billed as normal input
  double per_call = 0.0;
};

// A part of the file kept as YAML for the module that owns its schema (a provider's options
// block), with its position, so that the module reads it as a config::Field (yaml_util.h) and
// its errors read "FILE:LINE: PATH: what" like the loader's own.
// Copies share the YAML tree: to point a copy elsewhere, rebind with node.reset(other) (yaml-cpp's
// `node = other` writes into the shared node).
struct YamlBlock {
  YAML::Node node;   // null or undefined when the file has no such block (or for code-built ones)
  std::string path;  // "models[2].replay"
  int line = 0;      // the line of its key; the enclosing mapping's line when it is absent

  bool present() const { return node.IsDefined() && !node.IsNull(); }
};

// What a model can take (docs/routes.md "Capabilities"). Default: everything, so catalogs
// written before capabilities existed keep routing as they did.
struct Capabilities {
  bool tools = true;        // function/tool calling
  bool images = true;       // image parts in messages
  bool json_schema = true;  // response_format {type: json_schema}
};

// `cache:` of a route or a catalog model: its answers are cached (docs/cache.md). Absent: no
// cache. Bounds: max_entries and/or max_bytes (0 = that bound is off; neither set: 64 MiB).
struct CacheConfig {
  int64_t ttl_s = 300;
  int64_t max_entries = 0;
  int64_t max_bytes = 0;
  // Also cache answers to requests that sample (temperature > 0, or no temperature: the
  // providers' default samples). Off: only temperature 0 requests are cached.
  bool allow_sampling = false;
};

// Fields every model has. What is specific to a provider (its `<provider>:` options block, and
// whether it needs or refuses `endpoint` and `api_key_env`) is the provider's own: kept here as
// YAML and read by providers/<name>.{h,cc}, which registers itself under its name
// (providers/registry.cc) and checks the model at load (ProviderCatalog below).
// What a model does: answers chats (every route, /v1/chat/completions, /v1/messages,
// /v1/responses) or embeds text (only /v1/embeddings; never a route's model).
enum class ModelKind { kChat, kEmbedding };

struct Model {
  std::string name;      // catalog name clients use
  ModelKind kind = ModelKind::kChat;  // `kind: chat | embedding`
  std::string provider;  // a registered provider name: openai | anthropic | replay | local | ...
  std::string endpoint;  // base URL, e.g. https://api.openai.com/v1, for providers that call one
  std::string api_key_env;    // NAME of the env var holding the key; the key itself never here
  std::string upstream_model;  // model name sent upstream; default: name
  std::string tier = "medium";
  Prices prices;
  int64_t context_window = 0;      // tokens; 0 = unknown (not enforced)
  int64_t max_output_tokens = 0;   // longest answer it can write; 0 = unknown (not enforced)
  Capabilities capabilities;
  std::optional<CacheConfig> cache;  // `cache:`; requests naming this model directly
  int64_t timeout_ms = 60000;      // whole call deadline
  int64_t max_concurrency = 0;     // in-flight calls across all threads; 0 = unlimited
  int64_t max_queue_ms = 5000;     // how long a call may wait for a slot before 503
  std::string version;             // free-form label recorded in traces ("2024-08-06")
  // Retries and circuit breaker (resilience_config.h); the top-level `resilience:` block's
  // values unless the model sets its own `retries:` / `breaker:`.
  Resilience resilience;
  // Where a call goes when this model's concurrency queue is full or would outlast the
  // deadline: another catalog model's name. Empty: the call fails with 503 + Retry-After.
  std::string overflow;
  // Several endpoints serving this model, balanced (docs/resilience.md). Empty: `endpoint`.
  std::vector<Deployment> deployments;
  int line = 0;  // where it was declared, for later error messages
  // The whole `models[i]` mapping as declared (its path "models[i]"): a provider reads the
  // positions of the common fields it has rules about here.
  YamlBlock declaration;
  // The `<provider>:` block (e.g. `replay:`), absent when the file has none; parsed by the
  // provider (e.g. providers::parse_replay_options).
  YamlBlock options;
};

// A route as declared; the routes module builds it with its own typed config (see routes/).
struct RouteSpec {
  std::string name;
  std::string type;  // model | rules | classify | threshold | cascade | ...
  YAML::Node node;   // the whole mapping, for the route kind's factory
  int line = 0;
  std::string path;  // "routes[3]": where it sits, for error messages (see config/yaml_util.h)
  // `cache:` (read by the loader, which removes it from `node` so that kinds never see it).
  std::optional<CacheConfig> cache;
};

struct StoreConfig {
  std::string type = "sqlite";  // sqlite | postgres | none
  std::string path = "triage.db";  // sqlite: resolved against the config dir at load (":memory:" kept)
  // postgres: a libpq connection URI (postgres://user@host:5432/db?sslmode=require) or
  // key=value string, WITHOUT the password (refused at load: the file is stored in the config
  // history); the password comes from the environment variable named by password_env, or
  // from libpq's own PGPASSWORD / ~/.pgpass when that is empty.
  std::string url;
  std::string password_env;
  int64_t queue_capacity = 100000;  // traces waiting to be written; overflow is counted
  int64_t batch_size = 512;         // rows per transaction
  int64_t flush_interval_ms = 200;  // max time a row waits before its batch is written
  // Also store each request's messages and every model call's answer text (table `prompts`),
  // which the review queue shows and `triage export` needs. Default false: prompts and answers
  // often hold personal data; turn it on only where storing them is allowed. Keys never are.
  bool keep_payloads = false;
  // > 0: every this many ms, adopt a config version that another replica sharing this store
  // applied (docs/scaling.md "One config"); at start-up the store's latest version serves
  // instead of the file when they differ. 0 (default): this process alone applies versions.
  int64_t config_poll_ms = 0;
  // With config_poll_ms > 0 (a fleet): the lease "controller" (docs/scaling.md "One
  // controller") lasts this many ms and is renewed every third of it; a leader that dies
  // without releasing it is replaced after at most this long. Restart-only.
  int64_t leader_lease_ms = 10000;
};

// Which finished requests enter the review queue (docs/review.md). A request enters when any
// rule matches; the reasons are recorded with it.
struct ReviewConfig {
  // Trace flags that enqueue a request, by their names in the file: any of
  // core::review_rule_flags() (flag_band, escalated, cascaded, final_checks_failed,
  // verification_failed, step_checks_failed), which is also the default. Empty: no flag
  // enqueues.
  std::vector<core::ReviewFlag> flags = core::review_rule_flags();
  // Share (0..1) of successful calls answered by a model of the top tier that are sampled
  // (reason "sample_large"), to find tasks a cheaper tier could take. Deterministic per
  // request id (hash), so a replay samples the same requests. 0 disables.
  double sample_large = 0.02;
  // A request with negative user feedback (POST /v1/feedback) enters (reason
  // "negative_feedback").
  bool negative_feedback = true;
};

// OTLP/HTTP (JSON) trace export (docs/config.md `otel`, docs/metrics.md). Present in the
// config only when the `otel:` block is; absent means no export.
struct OtelConfig {
  // The collector's traces URL, used as is (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT semantics).
  std::string endpoint = "http://127.0.0.1:4318/v1/traces";
  std::string service_name = "triage";  // resource attribute service.name
  int64_t batch_size = 256;           // traces per POST; larger = fewer requests, bigger bodies
  int64_t flush_interval_ms = 1000;   // longest a queued trace waits before a partial batch goes
  int64_t queue_capacity = 10000;     // traces waiting to be sent; overflow is dropped + counted
  int64_t timeout_ms = 10000;         // deadline of one POST (each of the two attempts)
  // Extra request headers (e.g. auth for a hosted collector). A value "${NAME}" is read from
  // the environment variable NAME at start-up, so that tokens stay out of the file.
  std::map<std::string, std::string> headers;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;                     // I/O threads; 0 = one per core
  int64_t max_body_bytes = 4 << 20;    // larger bodies get 413
  int64_t request_timeout_ms = 120000; // overall deadline per request
  int64_t shutdown_grace_ms = 30000;   // how long in-flight requests may finish on SIGTERM
  int64_t idle_timeout_ms = 60000;     // keep-alive connections idle longer are closed
  int64_t busy_poll_us = 200;          // adaptive busy polling window, us (0 = off)
  // Admission control: chat requests in flight per I/O thread past which new ones get a fast
  // 503 with Retry-After (docs/config.md "Sizing server.max_requests_per_thread").
  int64_t max_requests_per_thread = 2048;
  // A client that closes its connection mid-request cancels the request's upstream calls.
  bool cancel_on_disconnect = true;
  std::string log_level = "info";
};

// A client API key declared in config (docs/security.md). The secret itself is never in the
// file: either its SHA-256 (64 hex digits) or the NAME of an environment variable holding it.
// The server maps this onto control::ApiKey; 0 limits are unlimited.
// What a key's limits do when the shared limit store (Redis) cannot answer: open admits the
// request uncounted, closed refuses it with a 503. kDefault: `limits.on_redis_error`.
enum class OnRedisError { kDefault, kOpen, kClosed };

struct ApiKeyConfig {
  std::string name;        // operator's label, named in 429s; unique in the file
  std::string sha256_hex;  // `sha256:` 64 hex digits, or empty
  std::string secret_env;  // `secret_env:` env var NAME, or empty (exactly one of the two)
  std::vector<std::string> routes;  // allowed route names; both lists empty = everything
  std::vector<std::string> models;  // allowed catalog model names
  std::string cohort;               // team label for cost reports; may be empty
  int64_t requests_per_minute = 0;
  int64_t tokens_per_minute = 0;
  double usd_per_day = 0;
  double usd_per_month = 0;
  OnRedisError on_redis_error = OnRedisError::kDefault;  // `on_redis_error: open | closed`
  int line = 0;
  std::string path;  // "auth.keys[2]", for start-up errors about the secret
};

// `auth:`. Present (even empty) means the inference API requires a client key; absent, and
// `serve` binds only loopback addresses (secure by default).
struct AuthConfig {
  // NAME of the env var holding the operator token for /v1/review*, /dashboard, /admin/*.
  // Empty: those endpoints answer loopback clients only.
  std::string admin_token_env;
  std::vector<ApiKeyConfig> keys;
  int line = 0;
};

// `limits:` (docs/security.md, "Limits across replicas"): where the keys' limits and budgets
// are counted.
struct LimitsConfig {
  enum class Backend { kMemory, kRedis };
  // memory (default): exact for this process; N replicas each allow a key its full limit.
  // redis: one count shared by every replica pointing at the same Redis and key_prefix.
  Backend backend = Backend::kMemory;
  // redis://HOST[:PORT][/DB] without a password (the file is stored in the config history), or
  // redis_url_env: NAME of an env var holding the URL (one with a password goes there). One of
  // the two with backend: redis.
  std::string redis_url;
  std::string redis_url_env;
  std::string key_prefix = "triage:limits:";  // several fleets can share a Redis
  // Default for keys without their own on_redis_error. Closed: an outage of the limit store
  // must not lift every budget; a key that prefers availability to its cap says open.
  OnRedisError on_redis_error = OnRedisError::kClosed;
  // A reservation unsettled this long is taken for one of a dead replica and charged in full
  // (control/redis_limits.h); longer than any request.
  int64_t reservation_lease_ms = 3'600'000;
  int line = 0;
};

struct Config;

// What the loader knows about providers, whose names config does not list: the registered
// names and each provider's own rules. providers::ProviderRegistry implements it; pass one to
// load_config()/parse_config() to check models against it (engine::load_config() passes the
// built-in providers).
class ProviderCatalog {
 public:
  virtual ~ProviderCatalog() = default;
  // Registered names, in registration order (messages list them in that order).
  virtual std::vector<std::string> provider_names() const = 0;
  // Checks what is the provider's in `model`: its options block and whether it needs or refuses
  // endpoint / api_key_env. Throws ConfigError at the field. `model.provider` is registered.
  virtual void check_model(const Config& cfg, const Model& model) const = 0;
};

struct Config {
  std::string path;  // the file it came from
  std::string dir;   // its directory; relative paths in the config resolve against it
  // The file's bytes as parsed: what its version hashes (config/config_version.h) and what the
  // config history stores. Never holds a secret: the file only names env vars and digests.
  std::string text;
  ServerConfig server;
  StoreConfig store;
  ReviewConfig review;
  std::optional<OtelConfig> otel;  // set when the `otel:` block is present
  std::optional<AuthConfig> auth;  // set when the `auth:` block is present
  LimitsConfig limits;             // the `limits:` block
  Resilience resilience;           // the `resilience:` block: every model's defaults
  std::vector<Model> models;
  std::vector<RouteSpec> routes;
  std::string reference_model;  // the model savings are measured against; default: priciest
  // Tier names, cheapest first ("escalate one tier" moves right). Every model's tier is one
  // of these.
  std::vector<std::string> tiers = {"small", "medium", "large"};
  // Error budgets (config/slo_config.h, docs/slo.md): a reload applies them with its version.
  std::vector<Slo> slos;
  SloControllerConfig slo_controller;

  const Model* find_model(std::string_view name) const;
  const RouteSpec* find_route(std::string_view name) const;
  // Position of a tier in `tiers` (0 = cheapest), or -1 when it is not a declared tier.
  int tier_index(std::string_view tier) const;
  // Resolves a path from the config against the config's directory.
  std::string resolve(const std::string& relative) const;
};

// Both throw ConfigError. With `providers`, every model's provider must be one of its names and
// passes its check_model() (each model right after its common fields, so errors come in file
// order). Without, provider names and blocks are taken as written: ProviderRegistry::create()
// checks them when the client is built (the same messages, later); a key of a model mapping that
// is neither a common field nor its provider's block is still refused.
Config load_config(const std::string& path, const ProviderCatalog* providers = nullptr);
// The bytes of the config file at `path`. Throws ConfigError ("PATH: config file not found ...").
std::string read_config_file(const std::string& path);
Config parse_config(const std::string& yaml_text, const std::string& path,
                    const ProviderCatalog* providers = nullptr);

// Whether `host` names only this machine: localhost, 127.0.0.0/8, ::1 (bracketed or not).
bool is_loopback_host(std::string_view host);
// Secure by default: a gateway without `auth:` may listen on loopback only. Throws ConfigError
// naming server.host and what to add otherwise. `serve` calls it after --listen is applied.
void check_exposure(const Config& cfg);

// Cost of a call in USD from the model's prices.
double cost_usd(const Prices& p, int64_t tokens_in, int64_t tokens_out, int64_t cached_in = 0);

}  // namespace triage::config
