// Loads triage.yaml into typed structs. Every check lives here or in config/yaml_util.h, so a
// broken config fails at start-up with "FILE:LINE: PATH: what is wrong and how to fix it".
// Route kinds' own fields are validated by the routes module (it reuses yaml_util.h).
#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/yaml_util.h"

namespace triage::config {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};
const std::vector<std::string> kStoreTypes = {"sqlite", "postgres", "none"};

bool is_env_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Heuristic for "someone pasted the secret itself": well-known key prefixes, or a long token
// mixing lower-case letters and digits (env var names are upper-case).
bool looks_like_secret(std::string_view s) {
  for (std::string_view prefix :
       {"sk-", "sk_", "sk-ant-", "xai-", "gsk_", "hf_", "AIza", "Bearer "})
    if (s.substr(0, prefix.size()) == prefix) return true;
  const bool has_lower =
      std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  const bool has_digit =
      std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  return s.size() >= 24 && has_lower && has_digit && s.find(' ') == std::string_view::npos;
}

bool is_identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// http(s)://host[:port][/path]; empty when valid, else why not.
std::string check_http_url(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "must be an http:// or https:// URL";
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https")
    return "must be an http:// or https:// URL (scheme '" + scheme + "' is not supported)";
  if (std::any_of(url.begin(), url.end(),
                  [](unsigned char c) { return std::isspace(c) || c < 0x20; }))
    return "must be an http:// or https:// URL without spaces";
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return "must not contain credentials; put the key's variable name in api_key_env";
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {  // [ipv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "has an unterminated [IPv6] host";
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "has garbage after the [IPv6] host";
      port = authority.substr(close + 2);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return "has no host (expected e.g. https://api.openai.com/v1)";
  if (host.front() != '[' && !std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == '_';
      }))
    return "has an invalid host '" + std::string(host) + "'";
  if (authority.back() == ':') return "has an empty port";
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        std::stoi(std::string(port)) > 65535)
      return "has an invalid port '" + std::string(port) + "'";
  }
  return {};
}

void parse_server(MapReader r, ServerConfig& s) {
  r.only({"host", "port", "threads", "max_body_bytes", "request_timeout_ms", "shutdown_grace_ms",
          "idle_timeout_ms", "busy_poll_us", "cancel_on_disconnect", "log_level",
          "max_requests_per_thread"});
  s.host = r["host"].get<std::string>(s.host);
  if (s.host.empty()) r["host"].fail("must not be empty (use 0.0.0.0 to listen on all interfaces)");
  s.port = r["port"].get<int>(s.port, Range::between(0, 65535));
  s.threads = r["threads"].get<int>(s.threads, Range::at_least(0));
  s.max_body_bytes = r["max_body_bytes"].bytes(s.max_body_bytes);
  s.request_timeout_ms =
      r["request_timeout_ms"].get<int64_t>(s.request_timeout_ms, Range::above(0));
  s.shutdown_grace_ms =
      r["shutdown_grace_ms"].get<int64_t>(s.shutdown_grace_ms, Range::at_least(0));
  s.idle_timeout_ms = r["idle_timeout_ms"].get<int64_t>(s.idle_timeout_ms, Range::above(0));
  s.busy_poll_us = r["busy_poll_us"].get<int64_t>(s.busy_poll_us, Range::between(0, 10000));
  s.cancel_on_disconnect = r["cancel_on_disconnect"].get<bool>(s.cancel_on_disconnect);
  s.max_requests_per_thread =
      r["max_requests_per_thread"].get<int64_t>(s.max_requests_per_thread, Range::at_least(0));
  s.log_level = r["log_level"].one_of(kLogLevels, s.log_level);
}

std::string env_name_field(Field f, std::string_view example);  // below

// Empty when `url` is a PostgreSQL connection string without a password, else why not. Never
// echoes the string (it may hold the password).
std::string check_postgres_url(std::string_view url) {
  const bool is_uri = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  if (!is_uri && url.find('=') == std::string_view::npos) {
    return "must be a PostgreSQL connection URI (postgres://user@host:5432/dbname) or a libpq "
           "key=value string (host=... dbname=...)";
  }
  bool has_password = url.find("password=") != std::string_view::npos;
  if (is_uri) {
    std::string_view rest = url.substr(url.find("://") + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    const size_t at = authority.rfind('@');
    if (at != std::string_view::npos &&
        authority.substr(0, at).find(':') != std::string_view::npos) {
      has_password = true;
    }
  }
  if (has_password) {
    return "must not contain the password (this file is kept in the config history); put the "
           "name of the environment variable that holds it in store.password_env";
  }
  return "";
}

void parse_store(MapReader r, StoreConfig& s, const Config& cfg) {
  r.only({"type", "path", "url", "password_env", "queue_capacity", "batch_size",
          "flush_interval_ms", "keep_payloads", "config_poll_ms", "leader_lease_ms"});
  s.type = r["type"].one_of(kStoreTypes, s.type);
  Field url = r["url"];
  if (url.present()) {
    if (s.type != "postgres") url.fail("is for store type 'postgres' (use path for sqlite)");
    if (!url.node().IsScalar()) url.fail("expected a connection URI");
    s.url = url.node().Scalar();
    if (const std::string why = check_postgres_url(s.url); !why.empty()) url.fail(why);
  } else if (s.type == "postgres") {
    r["type"].fail(
        "store type 'postgres' needs url: a connection URI, e.g. "
        "postgres://triage@db.internal:5432/triage");
  }
  Field password_env = r["password_env"];
  if (password_env.present()) {
    if (s.type != "postgres") password_env.fail("is for store type 'postgres'");
    s.password_env = env_name_field(password_env, "password_env: TRIAGE_PG_PASSWORD");
  }
  s.path = r["path"].get<std::string>(s.path);
  if (s.type == "sqlite" && s.path.empty())
    r["path"].fail(
        "must not be empty for store type 'sqlite' (use type: none to disable the store)");
  if (s.path != ":memory:") s.path = cfg.resolve(s.path);
  s.queue_capacity = r["queue_capacity"].get<int64_t>(s.queue_capacity, Range::above(0));
  s.batch_size = r["batch_size"].get<int64_t>(s.batch_size, Range::above(0));
  s.flush_interval_ms = r["flush_interval_ms"].get<int64_t>(s.flush_interval_ms, Range::above(0));
  s.keep_payloads = r["keep_payloads"].get<bool>(s.keep_payloads);
  s.config_poll_ms = r["config_poll_ms"].get<int64_t>(s.config_poll_ms, Range::at_least(0));
  Field lease = r["leader_lease_ms"];
  if (lease.present() && s.config_poll_ms <= 0) {
    lease.fail("is for replicas sharing one store: set store.config_poll_ms > 0 too "
               "(docs/scaling.md \"One controller\")");
  }
  s.leader_lease_ms = lease.get<int64_t>(s.leader_lease_ms, Range::at_least(300));
}

void parse_review(MapReader r, ReviewConfig& rc) {
  r.only({"flags", "sample_large", "negative_feedback"});
  Field flags = r["flags"];
  if (flags.present()) {
    if (!flags.node().IsSequence())
      flags.fail("expected a list of trace flags, e.g. [flag_band, cascaded], got " +
                 describe(flags.node()));
    std::vector<std::string> known;
    for (core::ReviewFlag f : core::review_rule_flags()) known.emplace_back(core::flag_name(f));
    const std::vector<std::string> names = flags.as<std::vector<std::string>>();
    const std::vector<Field> items = flags.items();
    rc.flags.clear();
    for (size_t i = 0; i < names.size(); ++i) {
      const std::optional<core::ReviewFlag> flag = core::parse_flag(names[i]);
      if (!flag || core::flag_kind(*flag) != core::FlagKind::kReviewRule)
        items[i].fail("unknown review flag '" + names[i] + "'" + suggest(names[i], known));
      if (core::has_flag(rc.flags, *flag)) items[i].fail("duplicate flag '" + names[i] + "'");
      rc.flags.push_back(*flag);
    }
  }
  rc.sample_large = r["sample_large"].get<double>(rc.sample_large, Range::between(0, 1));
  rc.negative_feedback = r["negative_feedback"].get<bool>(rc.negative_feedback);
}

void parse_otel(MapReader r, OtelConfig& o) {
  r.only({"endpoint", "service_name", "batch_size", "flush_interval_ms", "queue_capacity",
          "timeout_ms", "headers"});
  o.endpoint = r["endpoint"].get<std::string>(o.endpoint);
  if (std::string why = check_http_url(o.endpoint); !why.empty())
    r["endpoint"].fail(why + ", got '" + o.endpoint +
                       "' (the collector's traces URL, e.g. http://127.0.0.1:4318/v1/traces)");
  if (o.endpoint.find_first_of("?#") != std::string::npos)
    r["endpoint"].fail("must not contain a query or fragment, got '" + o.endpoint + "'");
  o.service_name = r["service_name"].get<std::string>(o.service_name);
  if (o.service_name.empty()) r["service_name"].fail("must not be empty (omit it for 'triage')");
  o.batch_size = r["batch_size"].get<int64_t>(o.batch_size, Range::above(0));
  o.flush_interval_ms = r["flush_interval_ms"].get<int64_t>(o.flush_interval_ms, Range::above(0));
  o.queue_capacity = r["queue_capacity"].get<int64_t>(o.queue_capacity, Range::above(0));
  o.timeout_ms = r["timeout_ms"].get<int64_t>(o.timeout_ms, Range::above(0));
  Field headers = r["headers"];
  if (!headers.present()) return;
  MapReader h = headers.map();
  for (auto& [name, value] : h.entries()) {
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (!token) value.fail("invalid header name '" + name + "' (letters, digits, '-', '_')");
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower == "host" || lower == "content-length" || lower == "content-type")
      value.fail("header '" + name + "' is set by Triage; remove it");
    const std::string v = value.as<std::string>();
    if (v.find_first_of("\r\n") != std::string::npos)
      value.fail("header values must not contain line breaks");
    o.headers[name] = v;
  }
}

std::vector<std::string> parse_tiers(Field f) {
  if (!f.present()) return Config{}.tiers;
  auto tiers = f.as<std::vector<std::string>>();
  if (tiers.empty())
    f.fail("must list at least one tier, cheapest first (e.g. [small, medium, large])");
  auto items = f.items();
  for (size_t i = 0; i < tiers.size(); ++i) {
    if (!is_identifier(tiers[i]))
      items[i].fail("tier names are identifiers (letters, digits, '_', '-', '.'), got '" +
                    tiers[i] + "'");
    for (size_t j = 0; j < i; ++j)
      if (tiers[j] == tiers[i]) items[i].fail("duplicate tier '" + tiers[i] + "'");
  }
  return tiers;
}

void parse_prices(MapReader r, Prices& p) {
  r.only({"input", "output", "cached_input", "per_call"});
  p.input_per_mtok = r["input"].get<double>(0.0, Range::at_least(0));
  p.output_per_mtok = r["output"].get<double>(0.0, Range::at_least(0));
  p.cached_input_per_mtok = r["cached_input"].get<double>(-1.0, Range::at_least(0));
  p.per_call = r["per_call"].get<double>(0.0, Range::at_least(0));
}

void parse_capabilities(MapReader r, Capabilities& c) {
  r.only({"tools", "images", "json_schema"});
  c.tools = r["tools"].get<bool>(c.tools);
  c.images = r["images"].get<bool>(c.images);
  c.json_schema = r["json_schema"].get<bool>(c.json_schema);
}

// `cache:` of a model or a route (docs/cache.md); absent -> nullopt.
std::optional<CacheConfig> parse_cache(const Field& f) {
  if (!f.present()) return std::nullopt;
  MapReader r = f.map();
  r.only({"ttl_s", "max_entries", "max_bytes", "allow_sampling"});
  CacheConfig c;
  c.ttl_s = r["ttl_s"].get<int64_t>(c.ttl_s, Range::above(0));
  c.max_entries = r["max_entries"].get<int64_t>(c.max_entries, Range::at_least(0));
  if (r["max_bytes"].present()) c.max_bytes = r["max_bytes"].bytes(0);
  c.allow_sampling = r["allow_sampling"].get<bool>(c.allow_sampling);
  if (c.max_entries == 0 && c.max_bytes == 0) c.max_bytes = int64_t{64} << 20;
  return c;
}

// The fields every model has, then (with a catalog) what is its provider's: the provider's
// name from the catalog, no other provider's block, and the provider's own check_model().
Model parse_model(const Field& item, const Config& cfg, const ProviderCatalog* providers) {
  MapReader r = item.map();
  std::vector<std::string> keys = {"name",          "provider",   "endpoint",
                                   "api_key_env",   "upstream_model", "tier",
                                   "prices",        "context_window", "timeout_ms",
                                   "max_concurrency", "max_queue_ms", "version",
                                   "retries",       "breaker",    "overflow", "deployments",
                                   "kind", "max_output_tokens", "capabilities", "cache"};
  const std::vector<std::string> names = providers ? providers->provider_names()
                                                   : std::vector<std::string>{};
  if (providers) {
    keys.insert(keys.end(), names.begin(), names.end());  // every provider's block
  } else if (Field p = r["provider"]; p.present() && p.node().IsScalar()) {
    keys.push_back(p.node().Scalar());  // the model's own provider's block
  }
  r.only(keys);
  Model m;
  m.line = item.line();
  m.declaration = YamlBlock{item.node(), item.path(), item.line()};
  m.name = r["name"].as<std::string>();
  m.provider = providers ? r["provider"].one_of(names) : r["provider"].as<std::string>();
  if (Field kind = r["kind"]; kind.present()) {
    m.kind = kind.one_of({"chat", "embedding"}) == "embedding" ? ModelKind::kEmbedding
                                                                 : ModelKind::kChat;
    // Embeddings are passed through to an OpenAI-compatible /embeddings endpoint.
    if (m.kind == ModelKind::kEmbedding && m.provider != "openai")
      kind.fail("embedding models must use provider: openai (an OpenAI-compatible "
                "/embeddings endpoint), not '" + m.provider + "'");
  }

  // Whether a provider needs or refuses endpoint/api_key_env is its rule (check_model); what
  // makes a valid value is common.
  Field endpoint = r["endpoint"];
  if (endpoint.present()) {
    m.endpoint = endpoint.as<std::string>();
    if (std::string why = check_http_url(m.endpoint); !why.empty())
      endpoint.fail(why + ", got '" + m.endpoint + "'");
    while (!m.endpoint.empty() && m.endpoint.back() == '/') m.endpoint.pop_back();
  }

  Field key_env = r["api_key_env"];
  if (key_env.present()) {
    // Never echo this value in a message: it may be the secret itself.
    if (!key_env.node().IsScalar()) key_env.fail("expected the name of an environment variable");
    const std::string v = key_env.node().Scalar();
    if (looks_like_secret(v))
      key_env.fail(
          "api_key_env takes the NAME of an environment variable, not the key itself "
          "(e.g. api_key_env: OPENAI_API_KEY); rotate that key if this file was shared");
    if (!is_env_name(v))
      key_env.fail(
          "must be an environment variable name matching [A-Z_][A-Z0-9_]* "
          "(e.g. OPENAI_API_KEY), got '" +
          v + "'");
    m.api_key_env = v;
  }

  m.upstream_model = r["upstream_model"].get<std::string>(m.name);
  if (m.upstream_model.empty())
    r["upstream_model"].fail("must not be empty (omit it to use the model's name)");
  Field tier = r["tier"];
  m.tier = tier.get<std::string>(m.tier);
  if (cfg.tier_index(m.tier) < 0) {
    std::string known;
    for (const auto& t : cfg.tiers) known += (known.empty() ? "" : ", ") + t;
    tier.fail("unknown tier '" + m.tier + "' (known: " + known +
              "; list more in the top-level 'tiers', cheapest first)");
  }
  parse_prices(r["prices"].map(), m.prices);
  m.context_window = r["context_window"].get<int64_t>(m.context_window, Range::at_least(0));
  m.max_output_tokens =
      r["max_output_tokens"].get<int64_t>(m.max_output_tokens, Range::at_least(0));
  parse_capabilities(r["capabilities"].map(), m.capabilities);
  m.cache = parse_cache(r["cache"]);
  m.timeout_ms = r["timeout_ms"].get<int64_t>(m.timeout_ms, Range::above(0));
  m.max_concurrency = r["max_concurrency"].get<int64_t>(m.max_concurrency, Range::at_least(0));
  m.max_queue_ms = r["max_queue_ms"].get<int64_t>(m.max_queue_ms, Range::at_least(0));
  m.version = r["version"].get<std::string>(m.version);
  m.resilience = cfg.resilience;
  parse_retries(r["retries"].map(), m.resilience.retries);
  parse_breaker(r["breaker"].map(), m.resilience.breaker);
  m.overflow = r["overflow"].get<std::string>("");
  if (m.overflow == m.name) r["overflow"].fail("a model cannot overflow to itself");
  m.deployments = parse_deployments(r["deployments"]);

  const Field block = r[m.provider];
  m.options = YamlBlock{block.node(), block.path(), block.line()};
  if (providers) {
    for (const std::string& other : names) {
      if (other != m.provider && r.has(other))
        r[other].fail("block '" + other + "' does not apply to provider '" + m.provider +
                      "'; remove it or set provider: " + other);
    }
    providers->check_model(cfg, m);
  }
  return m;
}

// Every `overflow:` names another catalog model.
void check_overflows(const Field& f, const Config& cfg) {
  const std::vector<Field> items = f.items();
  for (std::size_t i = 0; i < cfg.models.size() && i < items.size(); ++i) {
    const Model& m = cfg.models[i];
    if (const Model* to = m.overflow.empty() ? nullptr : cfg.find_model(m.overflow)) {
      if (to->kind != m.kind)
        items[i].map()["overflow"].fail("model '" + m.overflow + "' is a" +
                                        (to->kind == ModelKind::kEmbedding ? "n embedding"
                                                                           : " chat") +
                                        " model and cannot take this model's calls");
      continue;
    }
    if (m.overflow.empty()) continue;
    std::vector<std::string> names;
    for (const Model& other : cfg.models) names.push_back(other.name);
    items[i].map()["overflow"].fail("unknown model '" + m.overflow + "'" +
                                    suggest(m.overflow, names));
  }
}

void parse_models(Field f, Config& cfg, const ProviderCatalog* providers) {
  if (!f.present()) f.fail("missing required field 'models': list the models Triage may call");
  if (!f.node().IsSequence()) f.fail("expected a list of models, got " + describe(f.node()));
  const std::vector<Field> items = f.items();
  if (items.empty()) f.fail("the list is empty; declare at least one model");
  for (const Field& item : items) {
    Model m = parse_model(item, cfg, providers);
    if (const Model* prev = cfg.find_model(m.name))
      item.map()["name"].fail("duplicate model name '" + m.name + "' (first declared at line " +
                              std::to_string(prev->line) + ")");
    cfg.models.push_back(std::move(m));
  }
}

void parse_routes(Field f, Config& cfg) {
  for (const Field& item : f.items()) {
    MapReader r = item.map();
    RouteSpec spec;
    Field name = r["name"];
    spec.name = name.as<std::string>();
    spec.type = r["type"].as<std::string>();
    spec.node = item.node();
    spec.line = item.line();
    spec.path = item.path();
    spec.cache = parse_cache(r["cache"]);
    if (spec.cache) spec.node.remove("cache");  // the loader's field, not the kind's
    if (const RouteSpec* prev = cfg.find_route(spec.name))
      name.fail("duplicate route name '" + spec.name + "' (first declared at line " +
                std::to_string(prev->line) + ")");
    if (const Model* m = cfg.find_model(spec.name))
      name.fail("route name '" + spec.name + "' is already a model name (line " +
                std::to_string(m->line) + "); clients pass either as 'model', so rename the route");
    cfg.routes.push_back(std::move(spec));
  }
}

// Field names that would hold a key's plaintext: refused with a pointer to the safe ones.
const std::vector<std::string> kPlaintextKeyFields = {"secret", "key", "api_key", "token",
                                                      "plaintext", "value"};

std::string env_name_field(Field f, std::string_view example) {
  // Never echo this value in a message: it may be the secret itself.
  if (!f.node().IsScalar()) f.fail("expected the name of an environment variable");
  const std::string v = f.node().Scalar();
  if (looks_like_secret(v))
    f.fail("takes the NAME of an environment variable, not the secret itself (e.g. " +
           std::string(example) + "); rotate that secret if this file was shared");
  // The value is not echoed: a short secret does not look like one.
  if (!is_env_name(v))
    f.fail("must be an environment variable name matching [A-Z_][A-Z0-9_]* (e.g. " +
           std::string(example) + ")");
  return v;
}

void check_allowed_names(Field f, const std::vector<std::string>& names,
                         const std::vector<std::string>& known, std::string_view what) {
  const std::vector<Field> items = f.items();
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(known.begin(), known.end(), names[i]) == known.end())
      items[i].fail("unknown " + std::string(what) + " '" + names[i] + "'" +
                    suggest(names[i], known));
  }
}

ApiKeyConfig parse_api_key(const Field& item, const Config& cfg) {
  MapReader r = item.map();
  for (const std::string& plain : kPlaintextKeyFields) {
    if (r.has(plain))
      r[plain].fail("a key's secret must not be written in the config; use `sha256: <64 hex "
                    "digits>` (its SHA-256) or `secret_env: NAME` (an environment variable "
                    "holding it); rotate that secret if this file was shared");
  }
  r.only({"name", "sha256", "secret_env", "routes", "models", "cohort", "requests_per_minute",
          "tokens_per_minute", "usd_per_day", "usd_per_month", "on_redis_error"});
  ApiKeyConfig k;
  k.line = item.line();
  k.path = item.path();
  k.name = r["name"].as<std::string>();
  Field sha = r["sha256"];
  Field env = r["secret_env"];
  if (sha.present() == env.present())
    item.fail(sha.present() ? "give either sha256 or secret_env, not both"
                            : "missing the key's secret: give `sha256: <64 hex digits>` (e.g. "
                              "from `printf %s \"$KEY\" | sha256sum`) or `secret_env: NAME`");
  if (sha.present()) {
    if (!sha.node().IsScalar()) sha.fail("expected 64 hex digits");
    const std::string hex = sha.node().Scalar();
    const bool ok = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
                      return std::isxdigit(static_cast<unsigned char>(c));
                    });
    if (!ok)
      sha.fail("expected the key's SHA-256 as 64 hex digits (got " + std::to_string(hex.size()) +
               " characters); a plaintext key belongs in an environment variable named by "
               "secret_env");
    k.sha256_hex = hex;
  } else {
    k.secret_env = env_name_field(env, "secret_env: TEAM_A_KEY");
  }
  Field routes = r["routes"];
  k.routes = routes.get<std::vector<std::string>>({});
  std::vector<std::string> route_names;
  for (const RouteSpec& spec : cfg.routes) route_names.push_back(spec.name);
  check_allowed_names(routes, k.routes, route_names, "route");
  Field models = r["models"];
  k.models = models.get<std::vector<std::string>>({});
  std::vector<std::string> model_names;
  for (const Model& m : cfg.models) model_names.push_back(m.name);
  check_allowed_names(models, k.models, model_names, "model");
  k.cohort = r["cohort"].get<std::string>("");
  k.requests_per_minute = r["requests_per_minute"].get<int64_t>(0, Range::at_least(0));
  k.tokens_per_minute = r["tokens_per_minute"].get<int64_t>(0, Range::at_least(0));
  k.usd_per_day = r["usd_per_day"].get<double>(0, Range::at_least(0));
  k.usd_per_month = r["usd_per_month"].get<double>(0, Range::at_least(0));
  if (Field f = r["on_redis_error"]; f.present())
    k.on_redis_error = f.one_of({"open", "closed"}) == "open" ? OnRedisError::kOpen
                                                              : OnRedisError::kClosed;
  return k;
}

// A redis:// URL as config may hold it: well formed, and without a password (the file is kept
// in the config history; a URL with one belongs in the env var named by redis_url_env).
void check_redis_url(const Field& f, const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.rfind(kScheme, 0) != 0)
    f.fail("expected redis://HOST[:PORT][/DB]");  // the value is not echoed: it may hold a password
  const std::string_view rest = std::string_view(url).substr(kScheme.size());
  if (rest.substr(0, rest.find('/')).find('@') != std::string_view::npos)
    f.fail("a password does not belong in the config file (it is stored in the config "
           "history): put the URL in an environment variable and name it with redis_url_env");
  if (rest.empty() || rest.front() == '/' || rest.front() == ':')
    f.fail("expected redis://HOST[:PORT][/DB]: the host is missing");
}

void parse_limits(Field f, Config& cfg) {
  MapReader r = f.map();
  r.only({"backend", "redis_url", "redis_url_env", "key_prefix", "on_redis_error",
          "reservation_lease_ms"});
  LimitsConfig& l = cfg.limits;
  l.line = f.line();
  const std::string backend = r["backend"].one_of({"memory", "redis"}, "memory");
  l.backend = backend == "redis" ? LimitsConfig::Backend::kRedis : LimitsConfig::Backend::kMemory;
  Field url = r["redis_url"];
  Field url_env = r["redis_url_env"];
  if (url.present()) {
    l.redis_url = url.as<std::string>();
    check_redis_url(url, l.redis_url);
  }
  if (url_env.present()) l.redis_url_env = env_name_field(url_env, "redis_url_env: TRIAGE_REDIS_URL");
  if (url.present() && url_env.present()) url_env.fail("give either redis_url or redis_url_env, not both");
  if (l.backend == LimitsConfig::Backend::kRedis && !url.present() && !url_env.present())
    r["backend"].fail("backend: redis needs redis_url (redis://HOST:PORT) or redis_url_env");
  if (l.backend == LimitsConfig::Backend::kMemory && (url.present() || url_env.present()))
    (url.present() ? url : url_env).fail("only used with backend: redis");
  l.key_prefix = r["key_prefix"].get<std::string>(l.key_prefix);
  if (l.key_prefix.empty()) r["key_prefix"].fail("must not be empty");
  if (Field e = r["on_redis_error"]; e.present())
    l.on_redis_error = e.one_of({"open", "closed"}) == "open" ? OnRedisError::kOpen
                                                              : OnRedisError::kClosed;
  l.reservation_lease_ms = r["reservation_lease_ms"].get<int64_t>(
      l.reservation_lease_ms, Range::at_least(cfg.server.request_timeout_ms));
  if (l.backend == LimitsConfig::Backend::kRedis && !cfg.auth)
    r["backend"].fail("limits count the API keys of the auth: block, and the config has none");
}

void parse_auth(Field f, Config& cfg) {
  MapReader r = f.map();
  r.only({"admin_token_env", "keys"});
  AuthConfig& a = cfg.auth.emplace();
  a.line = f.line();
  if (Field t = r["admin_token_env"]; t.present())
    a.admin_token_env = env_name_field(t, "admin_token_env: TRIAGE_ADMIN_TOKEN");
  Field keys = r["keys"];
  if (keys.present() && !keys.node().IsSequence())
    keys.fail("expected a list of keys, got " + describe(keys.node()));
  for (const Field& item : keys.items()) {
    ApiKeyConfig k = parse_api_key(item, cfg);
    for (const ApiKeyConfig& prev : a.keys) {
      if (prev.name == k.name)
        item.map()["name"].fail("duplicate key name '" + k.name + "' (first declared at line " +
                                std::to_string(prev.line) + ")");
      if (!k.sha256_hex.empty() && prev.sha256_hex == k.sha256_hex)
        item.map()["sha256"].fail("the same sha256 as key '" + prev.name + "'");
    }
    a.keys.push_back(std::move(k));
  }
}

std::string default_reference(const Config& cfg) {
  const Model* best = nullptr;
  for (const Model& m : cfg.models) {
    if (!best || m.prices.output_per_mtok > best->prices.output_per_mtok ||
        (m.prices.output_per_mtok == best->prices.output_per_mtok &&
         m.prices.input_per_mtok > best->prices.input_per_mtok))
      best = &m;
  }
  return best ? best->name : std::string();
}

// Where the innermost flow collection ('[' or '{') still open at byte `end` of `text` began,
// when there is one. yaml-cpp reports an unclosed flow where it gave up, which is the next
// token (often the next line, or past the end of the file); the mistake is at the opener.
// A '[', '{' or quote counts as opening only where a YAML value can start (at a line's start
// or after ':', '-', ',', '[', '{', '?'), so brackets inside plain scalars are not mistaken for
// one; comments and quoted scalars are skipped.
struct FlowOpener {
  int line = 0;  // 1-based
  int column = 0;
  char bracket = '[';
};

std::optional<FlowOpener> unclosed_flow(std::string_view text, size_t end) {
  std::vector<FlowOpener> open;
  int line = 1, column = 1;
  char prev = '\n';  // the previous non-blank character on this line; '\n' at a line's start
  end = std::min(end, text.size());
  for (size_t i = 0; i < end; ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      column = 1;
      prev = '\n';
      continue;
    }
    const bool value_start = prev == '\n' || prev == ':' || prev == '-' || prev == ',' ||
                             prev == '[' || prev == '{' || prev == '?';
    if (c == '#' && (prev == '\n' || text[i - 1] == ' ' || text[i - 1] == '\t')) {
      while (i + 1 < end && text[i + 1] != '\n') ++i;  // the comment, up to its line's end
      continue;
    }
    if ((c == '"' || c == '\'') && value_start) {
      for (++i, ++column; i < end; ++i, ++column) {  // to the closing quote (may span lines)
        if (text[i] == '\n') {
          ++line;
          column = 0;
        } else if (c == '"' && text[i] == '\\') {
          ++i, ++column;
        } else if (text[i] == c) {
          if (c == '\'' && i + 1 < end && text[i + 1] == '\'') {
            ++i, ++column;  // '' is an escaped quote
          } else {
            break;
          }
        }
      }
      prev = c;
      ++column;
      continue;
    }
    if ((c == '[' || c == '{') && value_start) {
      open.push_back({line, column, c});
    } else if ((c == ']' || c == '}') && !open.empty()) {
      open.pop_back();
    }
    if (c != ' ' && c != '\t') prev = c;
    ++column;
  }
  if (open.empty()) return std::nullopt;
  return open.back();
}

std::string config_dir(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return fs::current_path(ec).string();
  fs::path abs = fs::absolute(fs::path(path), ec);
  if (ec) return fs::path(path).parent_path().string();
  return abs.lexically_normal().parent_path().string();
}

}  // namespace

const Model* Config::find_model(std::string_view name) const {
  for (const Model& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

const RouteSpec* Config::find_route(std::string_view name) const {
  for (const RouteSpec& r : routes)
    if (r.name == name) return &r;
  return nullptr;
}

int Config::tier_index(std::string_view tier) const {
  for (size_t i = 0; i < tiers.size(); ++i)
    if (tiers[i] == tier) return static_cast<int>(i);
  return -1;
}

std::string Config::resolve(const std::string& relative) const {
  if (relative.empty()) return relative;
  fs::path p(relative);
  if (p.is_absolute() || dir.empty()) return relative;
  return (fs::path(dir) / p).lexically_normal().string();
}

Config parse_config(const std::string& yaml_text, const std::string& path,
                    const ProviderCatalog* providers) {
  const std::string file = path.empty() ? std::string("<config>") : path;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    if (e.msg.find("flow not found") != std::string::npos) {
      const size_t at = e.mark.pos >= 0 ? static_cast<size_t>(e.mark.pos) : yaml_text.size();
      if (std::optional<FlowOpener> o = unclosed_flow(yaml_text, at)) {
        fail_at(file, o->line, "",
                "invalid YAML: " + e.msg + " (column " + std::to_string(o->column) +
                    ": this '" + o->bracket + "' is never closed)");
      }
    }
    fail_at(file, e.mark.line + 1, "",
            "invalid YAML: " + e.msg + " (column " + std::to_string(e.mark.column + 1) + ")");
  }
  if (!root.IsDefined() || root.IsNull())
    fail_at(file, 1, "", "the config is empty; it needs at least a 'models:' list");
  if (!root.IsMap())
    fail_at(
        file, line_of(root), "",
        "the top level must be a mapping (server:, store:, models:, ...), got " + describe(root));

  Config cfg;
  cfg.path = path;
  cfg.dir = config_dir(path);
  cfg.text = yaml_text;
  MapReader top(root, "", file, 1);
  top.only({"server", "store", "review", "otel", "tiers", "models", "routes",
            "reference_model", "auth", "limits", "resilience", "slos", "slo_controller"});
  parse_server(top["server"].map(), cfg.server);
  parse_store(top["store"].map(), cfg.store, cfg);
  parse_review(top["review"].map(), cfg.review);
  if (top.has("otel")) parse_otel(top["otel"].map(), cfg.otel.emplace());
  cfg.tiers = parse_tiers(top["tiers"]);
  parse_resilience(top["resilience"].map(), cfg.resilience);
  parse_models(top["models"], cfg, providers);
  check_overflows(top["models"], cfg);
  parse_routes(top["routes"], cfg);
  if (top.has("auth")) parse_auth(top["auth"], cfg);  // after routes: allow-lists name them
  if (top.has("limits")) parse_limits(top["limits"], cfg);  // after auth: it counts its keys
  parse_slos(top["slos"], cfg);                       // after routes: scopes and actions name them
  parse_slo_controller(top["slo_controller"].map(), cfg.slo_controller);

  Field ref = top["reference_model"];
  if (ref.present()) {
    cfg.reference_model = ref.as<std::string>();
    if (!cfg.find_model(cfg.reference_model)) {
      std::vector<std::string> names;
      for (const Model& m : cfg.models) names.push_back(m.name);
      ref.fail("unknown model '" + cfg.reference_model + "'" + suggest(cfg.reference_model, names));
    }
  } else {
    cfg.reference_model = default_reference(cfg);
  }
  return cfg;
}

Config load_config(const std::string& path, const ProviderCatalog* providers) {
  return parse_config(read_config_file(path), path, providers);
}

std::string read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    fail_at(path, 0, "",
            exists ? "cannot read the config file (permissions?)"
                   : "config file not found (pass its path with -c)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // 127.0.0.0/8 as a dotted quad: "127." then three numbers.
  if (host.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

void check_exposure(const Config& cfg) {
  if (cfg.auth || is_loopback_host(cfg.server.host)) return;
  fail_at(cfg.path, 0, "server.host",
          "'" + cfg.server.host +
              "' is reachable from other machines, but the config has no `auth:` block, so "
              "anyone who can reach the port could call every model and read stored prompts. "
              "Add `auth: {admin_token_env: TRIAGE_ADMIN_TOKEN, keys: [...]}` (docs/security.md), "
              "or listen on 127.0.0.1");
}

double cost_usd(const Prices& p, int64_t tokens_in, int64_t tokens_out, int64_t cached_in) {
  tokens_in = std::max<int64_t>(tokens_in, 0);
  tokens_out = std::max<int64_t>(tokens_out, 0);
  cached_in = std::clamp<int64_t>(cached_in, 0, tokens_in);
  const double cached_price =
      p.cached_input_per_mtok >= 0 ? p.cached_input_per_mtok : p.input_per_mtok;
  const double usd = static_cast<double>(tokens_in - cached_in) * p.input_per_mtok +
                     static_cast<double>(cached_in) * cached_price +
                     static_cast<double>(tokens_out) * p.output_per_mtok;
  return usd / 1e6 + p.per_call;
}

}  // namespace triage::config
