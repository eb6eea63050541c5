#include "server/keys_api.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <exception>
#include <stdexcept>

#include "api/errors.h"
#include "common/clock.h"
#include "control/utc_calendar.h"

namespace triage::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "/admin/keys";

AdminReply error_reply(const Error& e) {
  api::HttpError r = api::error_response(e);
  return AdminReply{r.status, std::move(r.body)};
}

AdminReply bad(std::string message, std::string param = {}) {
  return error_reply(
      make_error(ErrorCode::kInvalidRequest, std::move(message), {}, std::move(param)));
}

json::array names_json(const std::vector<std::string>& names) {
  json::array a;
  for (const auto& n : names) a.emplace_back(n);
  return a;
}

json::object key_json(const control::KeyInfo& k, const control::KeySpend& spend) {
  json::object o;
  o["id"] = k.id;
  o["name"] = k.name;
  o["routes"] = names_json(k.allowed_routes);
  o["models"] = names_json(k.allowed_models);
  o["cohort"] = k.cohort;
  o["requests_per_minute"] = k.limits.requests_per_minute;
  o["tokens_per_minute"] = k.limits.tokens_per_minute;
  o["usd_per_day"] = k.limits.usd_per_day;
  o["usd_per_month"] = k.limits.usd_per_month;
  o["disabled"] = k.disabled;
  o["source"] = control::key_source_name(k.source);
  o["created_ms"] = k.created_unix_ms;
  o["updated_ms"] = k.updated_unix_ms;
  json::object s;
  s["requests"] = spend.requests;
  s["tokens"] = spend.tokens;
  s["usd"] = control::nanos_to_usd(spend.nano_usd);
  s["usd_today"] = control::nanos_to_usd(spend.today_nano_usd);
  s["usd_this_month"] = control::nanos_to_usd(spend.month_nano_usd);
  s["in_flight"] = spend.in_flight;
  s["reservations_expired"] = spend.reservations_expired;
  o["spend"] = std::move(s);
  return o;
}

telemetry::StoredKey to_stored(const control::ApiKey& k) {
  telemetry::StoredKey s;
  s.id = k.id;
  s.sha256_hex = control::to_hex(k.digest);
  s.name = k.name;
  s.routes = k.allowed_routes;
  s.models = k.allowed_models;
  s.cohort = k.cohort;
  s.requests_per_minute = k.limits.requests_per_minute;
  s.tokens_per_minute = k.limits.tokens_per_minute;
  s.usd_per_day = k.limits.usd_per_day;
  s.usd_per_month = k.limits.usd_per_month;
  s.disabled = k.disabled;
  s.created_ms = k.created_unix_ms;
  s.updated_ms = k.updated_unix_ms;
  return s;
}

Result<control::ApiKey> from_stored(const telemetry::StoredKey& s) {
  auto digest = control::digest_from_hex(s.sha256_hex);
  if (!digest) return std::move(digest).error();
  control::KeyInfo info;
  info.name = s.name;
  info.allowed_routes = s.routes;
  info.allowed_models = s.models;
  info.cohort = s.cohort;
  info.limits.requests_per_minute = s.requests_per_minute;
  info.limits.tokens_per_minute = s.tokens_per_minute;
  info.limits.usd_per_day = s.usd_per_day;
  info.limits.usd_per_month = s.usd_per_month;
  info.disabled = s.disabled;
  info.source = control::KeySource::kAdmin;
  info.created_unix_ms = s.created_ms;
  info.updated_unix_ms = s.updated_ms;
  return control::make_api_key(digest.value(), std::move(info));
}

// Reads an optional list of names; every one must be known.
std::optional<AdminReply> read_names(const json::object& o, std::string_view field,
                                     const std::function<bool(std::string_view)>& known,
                                     std::vector<std::string>& out) {
  const json::value* v = o.if_contains(field);
  if (!v || v->is_null()) return std::nullopt;
  const std::string f(field);
  if (!v->is_array()) return bad("'" + f + "' must be a list of names", f);
  for (const json::value& item : v->as_array()) {
    if (!item.is_string()) return bad("'" + f + "' must be a list of names", f);
    const std::string name(item.as_string());
    if (!known(name)) return bad("unknown route or model '" + name + "' in '" + f + "'", f);
    out.push_back(name);
  }
  return std::nullopt;
}

std::optional<AdminReply> read_number(const json::object& o, std::string_view field, double& out) {
  const json::value* v = o.if_contains(field);
  if (!v || v->is_null()) return std::nullopt;
  const std::string f(field);
  if (!v->is_number()) return bad("'" + f + "' must be a number (0 = unlimited)", f);
  out = v->to_number<double>();
  if (!(out >= 0)) return bad("'" + f + "' must be >= 0 (0 = unlimited)", f);
  return std::nullopt;
}

asio::awaitable<AdminReply> run_on_worker(KeysApi* api, AdminJob job) {
  co_return api->dispatch(job);
}

// How long a restore after a reconnect waits for the store's queued rows.
constexpr int64_t kRestoreFlushMs = 5000;

}  // namespace

KeysApi::KeysApi(const config::Config& cfg, AccessControl& access, telemetry::RequestStore& store,
                 std::function<bool(std::string_view)> known_name)
    : access_(access), store_(store), known_name_(std::move(known_name)) {
  telemetry::StoreReaderOptions options;
  options.review_writes = true;
  auto reader = telemetry::open_store_reader(cfg, options, "the keys API");
  if (!reader) {
    if (reader.error().code != ErrorCode::kUnavailable) {
      throw std::runtime_error(reader.error().message);
    }
    unavailable_why_ = reader.error().message;
    return;
  }
  reader_ = std::move(reader.value());
  auto stored = reader_->list_keys();
  if (!stored)
    throw std::runtime_error("cannot read the stored API keys: " + stored.error().message);
  std::vector<control::ApiKey> keys;
  for (const telemetry::StoredKey& s : stored.value()) {
    auto key = from_stored(s);
    if (!key) {
      spdlog::warn("stored API key {} is unreadable and was skipped: {}", s.id,
                   key.error().message);
      continue;
    }
    keys.push_back(std::move(key).value());
  }
  if (auto r = access_.keys().replace_source(control::KeySource::kAdmin, std::move(keys)); !r) {
    throw std::runtime_error("stored API keys clash with the config's: " + r.error().message);
  }
  restore_spend();
  access_.limits().set_reconnect_hook(
      [this] { asio::post(pool_, [this] { restore_spend_after_reconnect(); }); });
}

void KeysApi::restore_spend_after_reconnect() {
  try {
    if (!store_.flush(kRestoreFlushMs)) {
      spdlog::warn("limits: the store did not commit its queued requests within {} ms; the "
                   "restored spend may miss the newest of them",
                   kRestoreFlushMs);
    }
    restore_spend();
  } catch (const std::exception& e) {
    spdlog::warn(
        "limits: the limit store reconnected but the keys' spend could not be restored "
        "({}); budgets count from what it holds",
        e.what());
  }
}

void KeysApi::restore_spend() {
  // Budgets are per UTC day and month: what the keys spent before a restart still counts.
  // Rows the previous process had not written yet (its last store flush interval, when it was
  // killed) are the only spend this cannot see. Requests-per-minute windows start empty.
  if (access_.keys().size() == 0) return;  // no key to hold to a budget: skip the month's scan
  const int64_t now = unix_time_ms();
  auto spent = reader_->key_spend(control::utc_day_start_ms(now), control::utc_month_start_ms(now));
  if (!spent) {
    throw std::runtime_error("cannot read the keys' spend from the store: " +
                             spent.error().message);
  }
  for (const telemetry::KeyPeriodSpend& s : spent.value()) {
    access_.limits().restore_spend(s.key_id, now, control::usd_to_nanos(s.day_usd),
                                   control::usd_to_nanos(s.month_usd));
  }
  if (!spent.value().empty()) {
    spdlog::info("restored this month's spend of {} API key(s) from the store",
                 spent.value().size());
  }
}

KeysApi::~KeysApi() { close(); }

void KeysApi::close() {
  access_.limits().set_reconnect_hook(nullptr);  // before the pool goes: the hook posts to it
  pool_.join();
}

bool KeysApi::handles(std::string_view path) {
  return path == kPrefix || path.rfind(std::string(kPrefix) + "/", 0) == 0;
}

asio::awaitable<void> KeysApi::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  AdminJob job = admin_job(in);
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job));
  AdminReply reply =
      co_await asio::co_spawn(pool_.get_executor(), std::move(work), asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

AdminReply KeysApi::dispatch(const AdminJob& job) {
  try {
    const std::string_view path = std::string_view(job.target).substr(0, job.target.find('?'));
    const std::string_view method = job.method;
    if (path == kPrefix) {
      if (method == "GET") return list();
      if (method == "POST") return create(job);
      return error_reply(
          make_error(ErrorCode::kMethodNotAllowed, "use GET or POST for /admin/keys"));
    }
    std::string_view rest = path.substr(kPrefix.size() + 1);
    const std::size_t slash = rest.find('/');
    const std::string id(rest.substr(0, slash));
    const std::string_view action =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (action.empty()) {
      if (method == "DELETE") return remove(id);
      return error_reply(
          make_error(ErrorCode::kMethodNotAllowed, "use DELETE for /admin/keys/{id}"));
    }
    if (action == "disable" || action == "enable") {
      if (method != "POST") {
        return error_reply(make_error(ErrorCode::kMethodNotAllowed,
                                      "use POST for /admin/keys/{id}/" + std::string(action)));
      }
      return set_disabled(id, action == "disable");
    }
    return error_reply(make_error(
        ErrorCode::kNotFound,
        "no endpoint " + std::string(path) + " (expected /admin/keys[/{id}[/disable|/enable]])"));
  } catch (const std::exception& e) {
    spdlog::error("keys API {} {} failed with an exception: {}", job.method, job.target, e.what());
    return error_reply(make_error(ErrorCode::kInternal, "internal error in the keys API"));
  }
}

AdminReply KeysApi::list() const {
  const int64_t now = unix_time_ms();
  json::array data;
  for (const control::KeyInfo& k : access_.keys().list()) {
    data.push_back(key_json(k, access_.limits().spend(k.id, now)));
  }
  json::object o;
  o["data"] = std::move(data);
  return AdminReply{200, json::serialize(o)};
}

AdminReply KeysApi::create(const AdminJob& job) {
  if (!reader_) return error_reply(make_error(ErrorCode::kUnavailable, unavailable_why_));
  if (job.body_too_large) {
    return error_reply(make_error(ErrorCode::kPayloadTooLarge, "request body is too large"));
  }
  boost::system::error_code ec;
  json::value v = json::parse(job.body, ec);
  if (ec || !v.is_object()) return bad("the body must be a JSON object");
  const json::object& o = v.as_object();
  for (const auto& kv : o) {
    static const std::vector<std::string_view> kKnown = {"name",
                                                         "routes",
                                                         "models",
                                                         "cohort",
                                                         "requests_per_minute",
                                                         "tokens_per_minute",
                                                         "usd_per_day",
                                                         "usd_per_month"};
    if (std::find(kKnown.begin(), kKnown.end(), kv.key()) == kKnown.end()) {
      return bad("unknown field '" + std::string(kv.key()) +
                     "' (known: name, routes, models, cohort, requests_per_minute, "
                     "tokens_per_minute, usd_per_day, usd_per_month)",
                 std::string(kv.key()));
    }
  }
  control::KeyInfo info;
  const json::value* name = o.if_contains("name");
  if (!name || !name->is_string() || name->as_string().empty() || name->as_string().size() > 200) {
    return bad("'name' is required: a label for the key (1 to 200 characters)", "name");
  }
  info.name = std::string(name->as_string());
  if (auto e = read_names(o, "routes", known_name_, info.allowed_routes)) return *e;
  if (auto e = read_names(o, "models", known_name_, info.allowed_models)) return *e;
  if (const json::value* c = o.if_contains("cohort"); c && !c->is_null()) {
    if (!c->is_string()) return bad("'cohort' must be a string", "cohort");
    info.cohort = std::string(c->as_string());
  }
  double rpm = 0, tpm = 0;
  if (auto e = read_number(o, "requests_per_minute", rpm)) return *e;
  if (auto e = read_number(o, "tokens_per_minute", tpm)) return *e;
  if (auto e = read_number(o, "usd_per_day", info.limits.usd_per_day)) return *e;
  if (auto e = read_number(o, "usd_per_month", info.limits.usd_per_month)) return *e;
  info.limits.requests_per_minute = static_cast<int64_t>(rpm);
  info.limits.tokens_per_minute = static_cast<int64_t>(tpm);

  auto created = access_.keys().create(std::move(info), unix_time_ms());
  if (!created) return error_reply(created.error());
  std::shared_ptr<const control::ApiKey> key = access_.keys().find_by_id(created->info.id);
  if (!key) return error_reply(make_error(ErrorCode::kInternal, "the new key vanished"));
  if (auto r = reader_->insert_key(to_stored(*key)); !r) {
    (void)access_.keys().remove(key->id);  // not stored: it must not work either
    return error_reply(r.error());
  }
  spdlog::info("API key {} ('{}') created through the admin API", key->id, key->name);
  json::object res = key_json(created->info, {});
  res["key"] = created->secret;  // the only time the secret is shown
  return AdminReply{201, json::serialize(res)};
}

AdminReply KeysApi::set_disabled(const std::string& id, bool disabled) {
  std::shared_ptr<const control::ApiKey> key = access_.keys().find_by_id(id);
  if (!key) return error_reply(make_error(ErrorCode::kNotFound, "no key with id '" + id + "'"));
  if (key->source == control::KeySource::kConfig) {
    return bad("key '" + key->name + "' is declared in the config; change it there and restart");
  }
  if (!reader_) return error_reply(make_error(ErrorCode::kUnavailable, unavailable_why_));
  const int64_t now = unix_time_ms();
  if (auto r = reader_->set_key_disabled(id, disabled, now); !r) return error_reply(r.error());
  if (auto r = access_.keys().set_disabled(id, disabled, now); !r) return error_reply(r.error());
  spdlog::info("API key {} ('{}') {} through the admin API", id, key->name,
               disabled ? "disabled" : "enabled");
  std::shared_ptr<const control::ApiKey> now_key = access_.keys().find_by_id(id);
  return AdminReply{200, json::serialize(key_json(*now_key, access_.limits().spend(id, now)))};
}

AdminReply KeysApi::remove(const std::string& id) {
  std::shared_ptr<const control::ApiKey> key = access_.keys().find_by_id(id);
  if (!key) return error_reply(make_error(ErrorCode::kNotFound, "no key with id '" + id + "'"));
  if (key->source == control::KeySource::kConfig) {
    return bad("key '" + key->name + "' is declared in the config; remove it there and restart");
  }
  if (!reader_) return error_reply(make_error(ErrorCode::kUnavailable, unavailable_why_));
  if (auto r = reader_->delete_key(id); !r) return error_reply(r.error());
  if (auto r = access_.keys().remove(id); !r) return error_reply(r.error());
  access_.limits().forget(id);
  spdlog::info("API key {} ('{}') deleted through the admin API", id, key->name);
  json::object res;
  res["id"] = id;
  res["deleted"] = true;
  return AdminReply{200, json::serialize(res)};
}

}  // namespace triage::server
