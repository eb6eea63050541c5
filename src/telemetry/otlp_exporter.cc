#include "telemetry/otlp_exporter.h"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "common/background_thread.h"
#include "net/endpoint.h"
#include "net/http_client.h"

namespace triage::telemetry {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// OTLP enums (opentelemetry/proto/trace/v1/trace.proto), sent as integers in OTLP/JSON.
constexpr int kSpanKindInternal = 1;
constexpr int kSpanKindServer = 2;
constexpr int kSpanKindClient = 3;
constexpr int kStatusUnset = 0;
constexpr int kStatusError = 2;

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* bytes, size_t n) {
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> digest_of(std::string_view s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Ids of one trace, computed once per trace (one SHA-256).
struct TraceIds {
  std::string trace_id;
  uint64_t root = 0;

  explicit TraceIds(std::string_view request_id) {
    const auto d = digest_of(request_id);
    trace_id = hex(d.data(), 16);
    for (int i = 16; i < 24; ++i) root = (root << 8) | d[static_cast<size_t>(i)];
    if (root == 0) root = 1;
  }
  std::string span(int index) const {
    uint64_t v = index < 0 ? root : splitmix64(root + static_cast<uint64_t>(index) + 1);
    if (v == 0) v = 1;
    unsigned char b[8];
    for (int i = 7; i >= 0; --i) {
      b[i] = static_cast<unsigned char>(v & 0xff);
      v >>= 8;
    }
    return hex(b, 8);
  }
};

json::object attr(std::string_view key, json::object value) {
  return json::object{{"key", key}, {"value", std::move(value)}};
}
json::object str_attr(std::string_view key, std::string_view v) {
  return attr(key, json::object{{"stringValue", v}});
}
// proto3 JSON: 64-bit integers are strings.
json::object int_attr(std::string_view key, int64_t v) {
  return attr(key, json::object{{"intValue", std::to_string(v)}});
}
json::object double_attr(std::string_view key, double v) {
  return attr(key, json::object{{"doubleValue", v}});
}
json::object bool_attr(std::string_view key, bool v) {
  return attr(key, json::object{{"boolValue", v}});
}
json::object strings_attr(std::string_view key, const std::vector<std::string>& vs) {
  json::array values;
  for (const std::string& v : vs) values.push_back(json::object{{"stringValue", v}});
  return attr(key, json::object{{"arrayValue", json::object{{"values", std::move(values)}}}});
}

std::string nanos(int64_t ns) { return std::to_string(ns); }

json::object status(int code, std::string_view message) {
  json::object s{{"code", code}};
  if (!message.empty()) s["message"] = message;
  return s;
}

// "openai/1" -> "openai".
std::string_view provider_of(std::string_view impl) { return impl.substr(0, impl.find('/')); }

// The OTel GenAI operation: "embeddings" for /v1/embeddings, "chat" for every chat dialect.
std::string_view operation_of(const core::Trace& t) {
  return t.api == core::ClientApi::kEmbeddings ? "embeddings" : "chat";
}

json::object root_span(const core::Trace& t, const TraceIds& ids, int64_t base_ns) {
  json::array a;
  a.push_back(str_attr("gen_ai.operation.name", operation_of(t)));
  a.push_back(str_attr("gen_ai.request.model", t.requested_model));
  if (!t.model.empty()) a.push_back(str_attr("gen_ai.response.model", t.model));
  if (!t.provider.empty()) a.push_back(str_attr("gen_ai.system", provider_of(t.provider)));
  a.push_back(int_attr("gen_ai.usage.input_tokens", t.tokens_in));
  a.push_back(int_attr("gen_ai.usage.output_tokens", t.tokens_out));
  if (!t.finish_reason.empty())
    a.push_back(strings_attr("gen_ai.response.finish_reasons", {t.finish_reason}));
  a.push_back(int_attr("http.response.status_code", t.http_status));
  if (!t.error_code.empty()) a.push_back(str_attr("error.type", t.error_code));
  a.push_back(str_attr("triage.request_id", t.request_id));
  a.push_back(str_attr("triage.route", t.route));
  if (!t.tier.empty()) a.push_back(str_attr("triage.tier", t.tier));
  a.push_back(double_attr("triage.cost_usd", t.cost_usd));
  a.push_back(bool_attr("triage.stream", t.stream));
  if (!t.category.empty()) a.push_back(str_attr("triage.category", t.category));
  if (!t.cohort.empty()) a.push_back(str_attr("triage.cohort", t.cohort));
  a.push_back(str_attr("triage.api", core::client_api_name(t.api)));
  if (t.config_version > 0) a.push_back(int_attr("triage.config_version", t.config_version));
  if (t.cache != core::CacheOutcome::kNone)
    a.push_back(str_attr("triage.cache", core::cache_outcome_name(t.cache)));
  if (!t.label.empty()) {
    a.push_back(str_attr("triage.label", t.label));
    a.push_back(double_attr("triage.confidence", t.confidence));
  }
  if (!t.flags.empty()) {
    std::vector<std::string> names;
    for (const core::ReviewFlag f : t.flags) names.emplace_back(core::flag_name(f));
    a.push_back(strings_attr("triage.flags", names));
  }
  a.push_back(int_attr("triage.routing_us", t.routing_us));
  a.push_back(int_attr("triage.queue_us", t.queue_us));
  a.push_back(int_attr("triage.upstream_ttfb_us", t.upstream_ttfb_us));
  a.push_back(int_attr("triage.upstream_us", t.upstream_us));
  a.push_back(int_attr("triage.overhead_us", t.overhead_us));

  const bool server_error = t.http_status >= 500;
  return json::object{
      {"traceId", ids.trace_id},
      {"spanId", ids.span(-1)},
      {"name", std::string(operation_of(t)) + " " + t.requested_model},
      {"kind", kSpanKindServer},
      {"startTimeUnixNano", nanos(base_ns)},
      {"endTimeUnixNano", nanos(base_ns + t.total_us * 1000)},
      {"attributes", std::move(a)},
      {"status", server_error ? status(kStatusError, t.error_message) : status(kStatusUnset, {})},
  };
}

// `operation`: the request's GenAI operation (operation_of), which its model calls share.
json::object child_span(const core::Span& s, std::string_view operation, const TraceIds& ids,
                        int index, int64_t base_ns) {
  json::array a;
  std::string name;
  int kind = kSpanKindInternal;
  int code = kStatusUnset;
  switch (s.kind) {
    case core::SpanKind::kModelCall: {
      name = std::string(operation) + " " + s.name;
      kind = kSpanKindClient;
      const std::string_view provider = provider_of(s.detail);
      a.push_back(str_attr("gen_ai.operation.name", operation));
      a.push_back(str_attr("gen_ai.system", provider));
      a.push_back(str_attr("gen_ai.provider.name", provider));
      a.push_back(str_attr("gen_ai.request.model", s.name));
      a.push_back(int_attr("gen_ai.usage.input_tokens", s.tokens_in));
      a.push_back(int_attr("gen_ai.usage.output_tokens", s.tokens_out));
      a.push_back(double_attr("triage.cost_usd", s.cost_usd));
      a.push_back(str_attr("triage.tier", s.tier));
      a.push_back(str_attr("triage.provider", s.detail));
      a.push_back(int_attr("triage.queue_us", s.queue_us));
      a.push_back(int_attr("triage.ttfb_us", s.ttfb_us));
      if (s.tokens_estimated) a.push_back(bool_attr("triage.tokens_estimated", true));
      if (!s.ok) {
        a.push_back(str_attr("error.type", s.error.empty() ? "error" : s.error));
        code = kStatusError;
      }
      break;
    }
    case core::SpanKind::kRoute:
      name = "route " + s.name;
      a.push_back(str_attr("triage.route", s.name));
      a.push_back(str_attr("triage.decision", s.detail));
      if (!s.shadow_decision.empty()) {
        a.push_back(str_attr("triage.shadow_decision", s.shadow_decision));
      }
      if (!s.router_version.empty()) {
        a.push_back(str_attr("triage.router_version", s.router_version));
      }
      if (!s.ok) {
        a.push_back(str_attr("error.type", s.error.empty() ? "error" : s.error));
        code = kStatusError;
      }
      break;
    case core::SpanKind::kCheck:
      // A failing verdict is a valid result of the check, not an error of the span.
      name = "check " + s.name;
      a.push_back(str_attr("triage.check.name", s.name));
      a.push_back(str_attr("triage.check.verdict", s.ok ? "pass" : "fail"));
      a.push_back(str_attr("triage.check.reason", s.detail));
      break;
  }
  const int64_t start = base_ns + s.start_us * 1000;
  return json::object{
      {"traceId", ids.trace_id},
      {"spanId", ids.span(index)},
      {"parentSpanId", ids.span(-1)},
      {"name", std::move(name)},
      {"kind", kind},
      {"startTimeUnixNano", nanos(start)},
      {"endTimeUnixNano", nanos(start + s.duration_us * 1000)},
      {"attributes", std::move(a)},
      {"status", status(code, code == kStatusError ? std::string_view(s.error) : "")},
  };
}

}  // namespace

std::string otlp_trace_id(std::string_view request_id) { return TraceIds(request_id).trace_id; }

std::string otlp_span_id(std::string_view request_id, int index) {
  return TraceIds(request_id).span(index);
}

std::string otlp_json(const std::vector<core::TracePtr>& traces, const OtlpOptions& options) {
  json::array spans;
  for (const core::TracePtr& tp : traces) {
    if (!tp) continue;
    const core::Trace& t = *tp;
    const TraceIds ids(t.request_id);
    const int64_t base_ns = t.time_ms * 1000000;
    spans.push_back(root_span(t, ids, base_ns));
    for (size_t i = 0; i < t.spans.size(); ++i) {
      spans.push_back(child_span(t.spans[i], operation_of(t), ids, static_cast<int>(i), base_ns));
    }
  }
  json::array resource_attrs;
  resource_attrs.push_back(str_attr("service.name", options.service_name));
  if (!options.service_version.empty())
    resource_attrs.push_back(str_attr("service.version", options.service_version));
  json::object scope_spans{{"scope", json::object{{"name", "triage"}}},
                           {"spans", std::move(spans)}};
  json::object resource_spans{{"resource", json::object{{"attributes", std::move(resource_attrs)}}},
                              {"scopeSpans", json::array{std::move(scope_spans)}}};
  json::object root{{"resourceSpans", json::array{std::move(resource_spans)}}};
  return json::serialize(root);
}

OtlpOptions OtlpOptions::from_config(const config::OtelConfig& cfg,
                                     const std::function<const char*(const char*)>& getenv) {
  OtlpOptions o;
  o.endpoint = cfg.endpoint;
  o.service_name = cfg.service_name;
  o.batch_size = cfg.batch_size;
  o.flush_interval_ms = cfg.flush_interval_ms;
  o.queue_capacity = cfg.queue_capacity;
  o.timeout_ms = cfg.timeout_ms;
  for (const auto& [name, value] : cfg.headers) {
    if (value.size() > 3 && value.rfind("${", 0) == 0 && value.back() == '}') {
      const std::string var = value.substr(2, value.size() - 3);
      const char* v = getenv ? getenv(var.c_str()) : nullptr;
      if (v == nullptr)
        throw std::runtime_error("otel.headers." + name + ": environment variable " + var +
                                 " is not set");
      if (std::strpbrk(v, "\r\n") != nullptr)
        throw std::runtime_error("otel.headers." + name + ": environment variable " + var +
                                 " contains a line break");
      o.headers[name] = v;
    } else {
      o.headers[name] = value;
    }
  }
  return o;
}

struct OtlpExporter::Http {
  explicit Http(net::Endpoint ep) : client(std::move(ep)) {}
  asio::io_context ctx;
  net::HttpClient client;
  std::string target;
  std::vector<net::HttpHeader> headers;  // views into options_.headers
};

OtlpExporter::OtlpExporter(OtlpOptions options, prometheus::Registry* registry)
    : options_(std::move(options)) {
  Result<net::Endpoint> ep = net::parse_endpoint(options_.endpoint);
  if (!ep) {
    throw std::runtime_error("otel.endpoint: " + ep.error().message);
  }
  http_ = std::make_unique<Http>(std::move(ep.value()));
  http_->target = http_->client.endpoint().base_path.empty() ? std::string("/")
                                                             : http_->client.endpoint().base_path;
  for (const auto& [name, value] : options_.headers) http_->headers.push_back({name, value});

  if (registry != nullptr) {
    auto& dropped = prometheus::BuildCounter()
                        .Name("triage_otlp_dropped_total")
                        .Help(
                            "Traces the OTLP exporter did not deliver, by reason "
                            "(queue_full|export_failed|closed)")
                        .Register(*registry);
    dropped_queue_full_ = &dropped.Add({{"reason", "queue_full"}});
    dropped_export_failed_ = &dropped.Add({{"reason", "export_failed"}});
    dropped_closed_ = &dropped.Add({{"reason", "closed"}});
    exported_counter_ = &prometheus::BuildCounter()
                             .Name("triage_otlp_exported_total")
                             .Help("Traces the OTLP collector accepted")
                             .Register(*registry)
                             .Add({});
  }
  worker_ = std::thread([this] { worker_loop(); });
}

OtlpExporter::~OtlpExporter() { close(); }

void OtlpExporter::count_drop(int64_t n, prometheus::Counter* counter) {
  dropped_.fetch_add(n, std::memory_order_relaxed);
  if (counter != nullptr) counter->Increment(static_cast<double>(n));
}

void OtlpExporter::consume(const core::TracePtr& trace) {
  if (!trace) return;
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    if (closing_) {
      count_drop(1, dropped_closed_);
      return;
    }
    if (static_cast<int64_t>(pending_.size()) >= options_.queue_capacity) {
      count_drop(1, dropped_queue_full_);
      return;
    }
    pending_.push_back(trace);
    ++enqueued_seq_;
    wake = static_cast<int64_t>(pending_.size()) == options_.batch_size;
  }
  if (wake) cv_.notify_all();
}

void OtlpExporter::close() {
  {
    std::lock_guard lk(mu_);
    if (closing_ && !worker_.joinable()) return;
    closing_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

bool OtlpExporter::flush(int64_t timeout_ms) {
  std::unique_lock lk(mu_);
  const uint64_t target = enqueued_seq_;
  ++flush_waiters_;
  cv_.notify_all();
  const bool done =
      cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return done_seq_ >= target; });
  --flush_waiters_;
  return done;
}

void OtlpExporter::worker_loop() {
  make_current_thread_background("otlp-exporter");  // batches and POSTs off the I/O threads' turns
  const auto batch_size = static_cast<size_t>(options_.batch_size);
  bool give_up = false;  // set when a POST fails during close: the rest is dropped
  for (;;) {
    std::vector<core::TracePtr> batch;
    bool closing = false;
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(options_.flush_interval_ms), [&] {
        return closing_ || pending_.size() >= batch_size ||
               (flush_waiters_ > 0 && !pending_.empty());
      });
      closing = closing_;
      if (pending_.empty()) {
        if (closing) return;
        continue;
      }
      const size_t n = std::min(batch_size, pending_.size());
      batch.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    const auto n = static_cast<int64_t>(batch.size());
    const bool ok = !give_up && send(batch);
    if (ok) {
      exported_.fetch_add(n, std::memory_order_relaxed);
      if (exported_counter_ != nullptr) exported_counter_->Increment(static_cast<double>(n));
    } else {
      count_drop(n, dropped_export_failed_);
      if (closing) give_up = true;
    }
    {
      std::lock_guard lk(mu_);
      done_seq_ += static_cast<uint64_t>(n);
    }
    cv_.notify_all();
  }
}

bool OtlpExporter::send(const std::vector<core::TracePtr>& batch) {
  const std::string body = otlp_json(batch, options_);
  net::HttpRequest req;
  req.method = "POST";
  req.target = http_->target;
  req.content_type = "application/json";
  req.headers = http_->headers;
  req.body = body;

  std::string last_problem;
  for (int attempt = 0; attempt < 2; ++attempt) {
    posts_.fetch_add(1, std::memory_order_relaxed);
    const SteadyTime deadline = SteadyClock::now() + std::chrono::milliseconds(options_.timeout_ms);
    Result<net::HttpResponse> result = make_error(ErrorCode::kInternal, "OTLP POST did not run");
    std::exception_ptr failure;
    http_->ctx.restart();
    asio::co_spawn(
        http_->ctx,
        [&]() -> asio::awaitable<void> { result = co_await http_->client.request(req, deadline); },
        [&](std::exception_ptr e) { failure = e; });
    http_->ctx.run();
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        last_problem = e.what();
      } catch (...) {
        last_problem = "unknown exception";
      }
      continue;
    }
    if (!result) {
      last_problem = result.error().message;
      continue;  // transport error or timeout: retry once
    }
    const int status = result->status;
    if (status >= 200 && status < 300) return true;
    last_problem = "HTTP " + std::to_string(status);
    if (status != 429 && status < 500) break;  // the collector refused the data: no retry
  }
  spdlog::warn("otlp: dropped a batch of {} traces for {}: {}", batch.size(),
               http_->client.endpoint().origin, last_problem);
  return false;
}

}  // namespace triage::telemetry
