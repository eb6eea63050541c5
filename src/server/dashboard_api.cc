#include "server/dashboard_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cmath>
#include <exception>
#include <map>
#include <stdexcept>
#include <vector>

#include "api/errors.h"
#include "server/upstream_status.h"
#include "common/clock.h"
#include "server/dashboard_assets.h"
#include "telemetry/counterfactual.h"

namespace triage::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kMonthMs = 30 * kDayMs;  // "monthly" projections use 30 days
constexpr int64_t kMinRateWindowMs = 60'000;
constexpr size_t kMaxBuckets = 1000;
// Bucket widths the automatic choice picks from, in seconds.
constexpr int64_t kNiceBuckets[] = {10,    30,    60,     300,    900,    1800,   3600,
                                    10800, 21600, 43200,  86400,  604800, 2592000};
constexpr size_t kAutoBuckets = 120;  // the automatic width aims at no more buckets than this

AdminReply error_reply(const Error& e) {
  api::HttpError r = api::error_response(e);
  return AdminReply{r.status, std::move(r.body)};
}

AdminReply bad(std::string message, std::string param = {}) {
  return error_reply(
      make_error(ErrorCode::kInvalidRequest, std::move(message), {}, std::move(param)));
}

// Rates and ratios: null when the denominator is zero, so the page shows "-" rather than 0.
json::value ratio(double num, double den) {
  if (den <= 0.0) return nullptr;
  return num / den;
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Query parameters of one call, validated against the endpoint's known names.
struct Params {
  std::map<std::string, std::string, std::less<>> values;
  std::optional<AdminReply> error;

  Params(std::string_view target, const std::vector<std::string_view>& known) {
    auto parsed = boost::urls::parse_origin_form(target);
    if (!parsed) {
      error = bad("malformed query string");
      return;
    }
    for (const auto& p : parsed->params()) {
      if (std::find(known.begin(), known.end(), p.key) == known.end()) {
        std::string list;
        for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error = bad("unknown query parameter '" + p.key + "' (known: " + list + ")", p.key);
        return;
      }
      values[p.key] = p.value;
    }
  }
  const std::string* get(std::string_view key) const {
    auto it = values.find(key);
    return it == values.end() || it->second.empty() ? nullptr : &it->second;
  }
};

// from/to (unix ms; default: the 24 hours up to now).
std::optional<AdminReply> parse_range(const Params& p, int64_t now_ms, telemetry::TimeRange& r) {
  r.to_ms = now_ms;
  if (const std::string* to = p.get("to")) {
    auto v = parse_int(*to);
    if (!v || *v < 0) return bad("'to' must be a unix time in milliseconds", "to");
    r.to_ms = *v;
  }
  r.from_ms = r.to_ms - kDayMs;
  if (const std::string* from = p.get("from")) {
    auto v = parse_int(*from);
    if (!v || *v < 0) return bad("'from' must be a unix time in milliseconds", "from");
    r.from_ms = *v;
  }
  if (r.from_ms > r.to_ms) return bad("'from' is after 'to'", "from");
  return std::nullopt;
}

json::object range_json(const telemetry::TimeRange& r) {
  return {{"from_ms", r.from_ms}, {"to_ms", r.to_ms}};
}

}  // namespace

DashboardApi::DashboardApi(const config::Config& cfg, telemetry::RequestStore& store,
                           RoutesNow routes, double slo_target, int threads)
    : cfg_(cfg),
      store_(store),
      routes_(std::move(routes)),
      slo_target_(slo_target),
      pool_(static_cast<size_t>(std::max(1, threads))) {
  auto reader = telemetry::open_store_reader(cfg, {}, "the dashboard API");
  if (reader) {
    reader_ = std::move(reader.value());
    db_ = std::make_unique<telemetry::DashboardDb>(*reader_);
  } else if (reader.error().code == ErrorCode::kUnavailable) {
    unavailable_why_ = reader.error().message;
  } else {
    throw std::runtime_error(reader.error().message);
  }
}

DashboardApi::~DashboardApi() { close(); }

void DashboardApi::close() { pool_.join(); }

bool DashboardApi::handles(std::string_view path) {
  return path == "/dashboard" || path.rfind("/dashboard/", 0) == 0 ||
         path.rfind("/v1/dashboard/", 0) == 0;
}

namespace {

asio::awaitable<AdminReply> run_on_worker(DashboardApi* api, AdminJob job) {
  co_return api->dispatch(job, unix_time_ms());
}

// The asset for a /dashboard path, or null.
const EmbeddedAsset* find_asset(std::string_view path) {
  std::string_view name = path == "/dashboard" ? "/" : path.substr(std::string_view("/dashboard").size());
  name.remove_prefix(1);
  if (name.empty()) name = "index.html";
  for (const EmbeddedAsset& a : embedded_assets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

}  // namespace

asio::awaitable<void> DashboardApi::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  const std::string_view target = in.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path.rfind("/v1/dashboard/", 0) != 0) {
    // Static assets: answered on the I/O thread from static memory.
    AdminReply reply;
    std::string content_type = "application/json";
    const EmbeddedAsset* asset = find_asset(path);
    if (in.method() != "GET" && in.method() != "HEAD") {
      reply = error_reply(make_error(ErrorCode::kMethodNotAllowed, "use GET for " + std::string(path)));
    } else if (!asset) {
      reply = error_reply(make_error(ErrorCode::kNotFound,
                                     "no dashboard file " + std::string(path) +
                                         " (the page is GET /dashboard)"));
    } else {
      reply.body = std::string(asset->body);
      content_type = std::string(asset->content_type);
    }
    // no-cache: the browser revalidates, so a new binary's page is never mixed with old JS.
    const net::HeaderList headers = {{"cache-control", "no-cache"},
                                     {"x-content-type-options", "nosniff"}};
    co_await out.send(reply.status, content_type, headers, std::move(reply.body));
    co_return;
  }
  AdminJob job;
  job.method = std::string(in.method());
  job.target = std::string(target);
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job));
  AdminReply reply =
      co_await asio::co_spawn(pool_.get_executor(), std::move(work), asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

namespace {

// Automatic bucket width for a range: the smallest "nice" width giving at most kAutoBuckets.
int64_t auto_bucket_s(const telemetry::TimeRange& r) {
  const int64_t span_s = (r.to_ms - r.from_ms) / 1000 + 1;
  for (int64_t b : kNiceBuckets) {
    if (span_s / b < static_cast<int64_t>(kAutoBuckets)) return b;
  }
  return kNiceBuckets[std::size(kNiceBuckets) - 1];
}

json::array doubles(const std::vector<double>& v, double scale = 1.0) {
  json::array a;
  a.reserve(v.size());
  for (double x : v) a.emplace_back(x * scale);
  return a;
}

template <typename T>
json::array values(const std::vector<T>& v) {
  return json::array(v.begin(), v.end());
}

}  // namespace

namespace {

// The five endpoints (docs/dashboard.md), one function each. `params` were checked against
// the endpoint's names by dispatch(); `range` is the call's from/to.

AdminReply summary_reply(const config::Config& cfg, telemetry::DashboardDb& db,
                         const telemetry::TimeRange& range, int64_t now_ms) {
  auto s = db.summary(range);
  if (!s) return error_reply(s.error());
  json::object res = range_json(range);
  res["requests"] = s->requests;
  res["errors"] = s->errors;
  res["error_rate"] = ratio(static_cast<double>(s->errors), static_cast<double>(s->requests));
  res["cost_usd"] = s->cost_usd;
  res["cpi_usd"] = ratio(s->cost_usd, static_cast<double>(s->requests));
  res["tokens_in"] = s->tokens_in;
  res["tokens_out"] = s->tokens_out;
  res["first_ts_ms"] = s->requests ? json::value(s->first_ts_ms) : json::value(nullptr);
  res["last_ts_ms"] = s->requests ? json::value(s->last_ts_ms) : json::value(nullptr);
  // Counterfactual: the same tokens (and calls) billed at the reference model's prices.
  if (const config::Model* ref = cfg.find_model(cfg.reference_model)) {
    const double counterfactual = telemetry::counterfactual_cost_usd(
        ref->prices, s->tokens_in, s->tokens_out, s->requests);
    res["reference_model"] = ref->name;
    res["counterfactual_cost_usd"] = counterfactual;
    res["savings_usd"] = counterfactual - s->cost_usd;
    res["savings_pct"] = ratio(100.0 * (counterfactual - s->cost_usd), counterfactual);
  } else {
    res["reference_model"] = nullptr;
    res["counterfactual_cost_usd"] = nullptr;
    res["savings_usd"] = nullptr;
    res["savings_pct"] = nullptr;
  }
  // Current rate: the range's cost over the part of it that had traffic (from its first
  // request to its end, or now if earlier), at least a minute.
  const int64_t window_end = std::min(range.to_ms, std::max(now_ms, s->last_ts_ms));
  const int64_t window_ms =
      s->requests ? std::max(kMinRateWindowMs, window_end - s->first_ts_ms) : 0;
  res["rate_window_ms"] = window_ms;
  json::array tiers;
  for (const std::string& t : cfg.tiers) tiers.emplace_back(t);
  res["tiers"] = std::move(tiers);
  res["projected_monthly_cost_usd"] =
      window_ms ? json::value(s->cost_usd * static_cast<double>(kMonthMs) /
                              static_cast<double>(window_ms))
                : json::value(nullptr);
  return AdminReply{200, json::serialize(res)};
}

// The part of `range` the chart covers (the part that holds requests, so from=0 means "all")
// and its bucket width in seconds: `bucket` when given, else automatic; widened when it would
// give more than kMaxBuckets.
std::optional<AdminReply> chart_buckets(const Params& params, const telemetry::TimeRange& range,
                                        telemetry::DashboardDb& db, telemetry::TimeRange& chart,
                                        int64_t& bucket_s) {
  auto span = db.data_span(range);
  if (!span) return error_reply(span.error());
  chart = span->value_or(telemetry::TimeRange{range.to_ms, range.to_ms});
  if (!span->has_value()) chart.from_ms = std::max(range.from_ms, range.to_ms - kDayMs);
  if (const std::string* b = params.get("bucket")) {
    auto v = parse_int(*b);
    if (!v || *v < 1 || *v > 366 * 86400) {
      return bad("'bucket' must be a number of seconds from 1 to 31622400", "bucket");
    }
    bucket_s = *v;
  } else {
    bucket_s = auto_bucket_s(chart);
  }
  const int64_t span_s = (chart.to_ms - chart.from_ms) / 1000 + 1;
  if (span_s / bucket_s >= static_cast<int64_t>(kMaxBuckets)) {
    bucket_s = (span_s + static_cast<int64_t>(kMaxBuckets) - 2) / (kMaxBuckets - 1);
  }
  return std::nullopt;
}

AdminReply latency_reply(telemetry::DashboardDb& db, const telemetry::TimeRange& chart,
                         int64_t bucket_s, json::object res) {
  auto l = db.latency_series(chart, bucket_s * 1000);
  if (!l) return error_reply(l.error());
  res["buckets"] = values(l->buckets);
  res["requests"] = values(l->requests);
  res["sample_per_bucket"] = l->sample_per_bucket;
  json::object parts;
  for (int p = 0; p < telemetry::LatencySeries::kParts; ++p) {
    parts[telemetry::LatencySeries::kPartNames[p]] =
        json::object{{"p50_ms", doubles(l->p50[p], 1e-3)},
                     {"p95_ms", doubles(l->p95[p], 1e-3)},
                     {"p99_ms", doubles(l->p99[p], 1e-3)},
                     {"mean_ms", doubles(l->mean[p], 1e-3)}};
  }
  res["parts"] = std::move(parts);
  return AdminReply{200, json::serialize(res)};
}

AdminReply cost_reply(telemetry::DashboardDb& db, const telemetry::TimeRange& chart,
                      int64_t bucket_s, const std::string* by_name, telemetry::Dimension by,
                      json::object res) {
  res["by"] = by_name ? json::value(*by_name) : json::value(nullptr);
  auto c = db.cost_series(chart, bucket_s * 1000, by);
  if (!c) return error_reply(c.error());
  res["buckets"] = values(c->buckets);
  json::array series;
  for (const auto& s : c->series) {
    json::array cpi;
    for (size_t i = 0; i < s.requests.size(); ++i) {
      cpi.push_back(ratio(s.cost_usd[i], static_cast<double>(s.requests[i])));
    }
    series.push_back(json::object{{"key", s.key},
                                  {"requests", values(s.requests)},
                                  {"cost_usd", doubles(s.cost_usd)},
                                  {"cpi_usd", std::move(cpi)}});
  }
  res["series"] = std::move(series);
  return AdminReply{200, json::serialize(res)};
}

AdminReply timeseries_reply(telemetry::DashboardDb& db, const Params& params,
                            const telemetry::TimeRange& range) {
  const std::string* metric = params.get("metric");
  const std::string m = metric ? *metric : "cpi";
  if (m != "cpi" && m != "cost" && m != "latency") {
    return bad("'metric' must be cpi, cost or latency", "metric");
  }
  const std::string* by_name = params.get("by");
  auto by = telemetry::parse_dimension(by_name ? *by_name : "");
  if (!by) return bad("'by' must be tier, route, category, cohort, model, key or api", "by");
  telemetry::TimeRange chart;
  int64_t bucket_s = 0;
  if (auto e = chart_buckets(params, range, db, chart, bucket_s)) return *e;
  json::object res = range_json(range);
  res["metric"] = m;
  res["bucket_s"] = bucket_s;
  if (m == "latency") return latency_reply(db, chart, bucket_s, std::move(res));
  return cost_reply(db, chart, bucket_s, by_name, *by, std::move(res));
}

json::object model_json(const config::Config& cfg, const telemetry::ModelRow& r, double slo) {
  const double n = static_cast<double>(r.requests);
  const json::value success = ratio(n - static_cast<double>(r.server_errors), n);
  json::object o;
  o["model"] = r.model;
  o["tier"] = r.tier.empty() ? json::value(nullptr) : json::value(r.tier);
  o["configured"] = cfg.find_model(r.model) != nullptr;
  o["requests"] = r.requests;
  o["server_errors"] = r.server_errors;
  o["client_errors"] = r.client_errors;
  o["timeouts"] = r.timeouts;
  o["error_rate"] = ratio(static_cast<double>(r.server_errors), n);
  o["timeout_rate"] = ratio(static_cast<double>(r.timeouts), n);
  o["success_rate"] = success;
  o["availability"] = ratio(static_cast<double>(r.minutes_available),
                            static_cast<double>(r.minutes_with_traffic));
  o["slo_target"] = slo;
  o["meets_slo"] = success.is_null() ? json::value(nullptr) : json::value(success.as_double() >= slo);
  // Burn rate: 1 spends the error budget exactly over the SLO period; above 1 sooner.
  o["error_budget_burn"] = success.is_null()
                               ? json::value(nullptr)
                               : json::value((1.0 - success.as_double()) / (1.0 - slo));
  o["tokens_in"] = r.tokens_in;
  o["tokens_out"] = r.tokens_out;
  o["throughput_tokens_per_s"] =
      ratio(static_cast<double>(r.tokens_out), static_cast<double>(r.upstream_us) / 1e6);
  o["cost_usd"] = r.cost_usd;
  o["cpi_usd"] = ratio(r.cost_usd, n);
  o["mean_latency_ms"] = r.requests ? json::value(r.mean_total_us / 1e3) : json::value(nullptr);
  return o;
}

AdminReply models_reply(const config::Config& cfg, telemetry::DashboardDb& db,
                        const Params& params, const telemetry::TimeRange& range,
                        double default_slo) {
  double slo = default_slo;
  if (const std::string* s = params.get("slo")) {
    char* end = nullptr;
    slo = std::strtod(s->c_str(), &end);
    if (end != s->c_str() + s->size() || !(slo > 0.0 && slo < 1.0)) {
      return bad("'slo' must be a number between 0 and 1 (exclusive), e.g. 0.99", "slo");
    }
  }
  auto rows = db.models(range);
  if (!rows) return error_reply(rows.error());
  // Configured models without traffic are listed too, so a silent model is visible.
  for (const config::Model& cm : cfg.models) {
    const bool seen = std::any_of(rows->begin(), rows->end(),
                                  [&](const auto& r) { return r.model == cm.name; });
    if (!seen) rows->push_back({cm.name, cm.tier});
  }
  json::array models;
  for (const telemetry::ModelRow& r : *rows) models.push_back(model_json(cfg, r, slo));
  json::object res = range_json(range);
  res["slo_target"] = slo;
  res["models"] = std::move(models);
  return AdminReply{200, json::serialize(res)};
}

AdminReply funnel_reply(telemetry::DashboardDb& db, const telemetry::TimeRange& range) {
  constexpr int64_t kFunnelLimit = 50000;  // ~0.5 s at most (docs/dashboard.md)
  auto f = db.funnel(range, kFunnelLimit);
  if (!f) return error_reply(f.error());
  json::array routes;
  for (const auto& fr : f->routes) {
    json::array steps;
    int64_t reached = fr.requests;
    for (const auto& st : fr.steps) {
      steps.push_back(json::object{{"step", st.index},
                                   {"name", st.name},
                                   {"reached", reached},
                                   {"stopped", st.stopped},
                                   {"answered", st.accepted}});
      reached -= st.stopped;
    }
    routes.push_back(
        json::object{{"route", fr.route}, {"requests", fr.requests}, {"steps", std::move(steps)}});
  }
  json::object res = range_json(range);
  res["routes"] = std::move(routes);
  res["scanned"] = f->scanned;
  res["limit"] = kFunnelLimit;
  res["truncated"] = f->truncated;
  return AdminReply{200, json::serialize(res)};
}

// Routing quality from the latest label of each request (docs/dashboard.md "confidence").
json::object routing_quality(const config::Config& cfg,
                             const std::vector<telemetry::LabelGroup>& groups) {
  int64_t labeled = 0, accurate = 0, over = 0, under = 0, unrated = 0;
  for (const auto& g : groups) {
    const int answered = cfg.tier_index(g.answered_tier);
    const int sufficient = g.sufficient_tier.empty() ? -1 : cfg.tier_index(g.sufficient_tier);
    if (answered < 0) {
      unrated += g.count;
      continue;
    }
    labeled += g.count;
    if (g.verdict == "incorrect" || sufficient > answered) {
      under += g.count;
    } else if (sufficient >= 0 && sufficient < answered) {
      over += g.count;
    } else {
      accurate += g.count;
    }
  }
  const double l = static_cast<double>(labeled);
  return json::object{{"labeled", labeled},
                      {"accurate", accurate},
                      {"over_routed", over},
                      {"under_routed", under},
                      {"unrated", unrated},
                      {"accuracy", ratio(static_cast<double>(accurate), l)},
                      {"over_routing_rate", ratio(static_cast<double>(over), l)},
                      {"under_routing_rate", ratio(static_cast<double>(under), l)}};
}

AdminReply confidence_reply(const config::Config& cfg, telemetry::DashboardDb& db,
                            const telemetry::TimeRange& range) {
  constexpr int kBins = 20;
  auto c = db.confidence(range, kBins);
  if (!c) return error_reply(c.error());
  json::array hist;
  for (int i = 0; i < kBins; ++i) {
    hist.push_back(json::object{{"lo", static_cast<double>(i) / kBins},
                                {"hi", static_cast<double>(i + 1) / kBins},
                                {"count", c->histogram[static_cast<size_t>(i)]}});
  }
  json::object res = range_json(range);
  res["histogram"] = std::move(hist);
  res["with_confidence"] = c->with_confidence;
  res["routing"] = routing_quality(cfg, c->labels);
  return AdminReply{200, json::serialize(res)};
}

// The query parameters each endpoint accepts; nullptr for an unknown endpoint.
// Live, not from the store: answers even when the store cannot be read back.
AdminReply upstreams_reply(const routes::RouteTable* routes, std::string_view target) {
  const Params params(target, {});
  if (params.error) return *params.error;
  if (!routes) {
    return error_reply(make_error(ErrorCode::kUnavailable, "no running models to report on"));
  }
  AdminReply reply;
  reply.body = boost::json::serialize(upstream_status(*routes));
  return reply;
}

const std::vector<std::string_view>* known_params(std::string_view endpoint) {
  static const std::map<std::string_view, std::vector<std::string_view>> kEndpoints = {
      {"summary", {"from", "to"}},
      {"timeseries", {"from", "to", "metric", "bucket", "by"}},
      {"models", {"from", "to", "slo"}},
      {"funnel", {"from", "to"}},
      {"confidence", {"from", "to"}},
      {"upstreams", {}}};
  auto it = kEndpoints.find(endpoint);
  return it == kEndpoints.end() ? nullptr : &it->second;
}

}  // namespace

AdminReply DashboardApi::dispatch(const AdminJob& job, int64_t now_ms) {
  try {
    const std::string_view target = job.target;
    const std::string_view path = target.substr(0, target.find('?'));
    if (job.method != "GET") {
      return error_reply(make_error(ErrorCode::kMethodNotAllowed, "use GET for " + std::string(path)));
    }
    const std::string_view endpoint = path.substr(std::string_view("/v1/dashboard/").size());
    const std::vector<std::string_view>* known = known_params(endpoint);
    if (!known) {
      return error_reply(make_error(
          ErrorCode::kNotFound, "no endpoint " + std::string(path) +
                                    " (known: /v1/dashboard/summary, timeseries, models, funnel, "
                                    "confidence, upstreams)"));
    }
    // The route table (and so the config) serving now, kept alive for this call.
    const std::shared_ptr<const routes::RouteTable> routes = routes_ ? routes_() : nullptr;
    const config::Config& cfg = routes ? routes->config() : cfg_;
    if (endpoint == "upstreams") return upstreams_reply(routes.get(), target);
    if (!db_) return error_reply(make_error(ErrorCode::kUnavailable, unavailable_why_));
    const Params params(target, *known);
    if (params.error) return *params.error;
    telemetry::TimeRange range;
    if (auto e = parse_range(params, now_ms, range)) return *e;
    // Read-your-writes, as in the admin API: requests finished before this call are committed
    // first (bounded wait, on this worker only).
    store_.flush(1000);

    if (endpoint == "summary") return summary_reply(cfg, *db_, range, now_ms);
    if (endpoint == "timeseries") return timeseries_reply(*db_, params, range);
    if (endpoint == "models") return models_reply(cfg, *db_, params, range, slo_target_);
    if (endpoint == "funnel") return funnel_reply(*db_, range);
    return confidence_reply(cfg, *db_, range);
  } catch (const std::exception& e) {
    spdlog::error("dashboard API {} {} failed with an exception: {}", job.method, job.target,
                  e.what());
    return error_reply(make_error(ErrorCode::kInternal, "internal error in the dashboard API"));
  }
}

}  // namespace triage::server
