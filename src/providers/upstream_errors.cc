#include "providers/upstream_errors.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/static_resource.hpp>
#include <cstdlib>

#include "control/retry.h"
#include "core/tokens.h"
#include "net/sse.h"

namespace triage::providers {

namespace json = boost::json;

namespace {
constexpr std::size_t kErrorBodyLimit = 1 << 20;
constexpr std::size_t kQuoteLimit = 300;

std::string quote(std::string_view text) {
  if (text.size() <= kQuoteLimit) return std::string(text);
  return std::string(text.substr(0, kQuoteLimit)) + "...";
}
}  // namespace

UpstreamSetup prepare_upstream(const config::Config& cfg, const config::Model& model,
                               const EnvLookup& env, std::string_view default_url) {
  auto where = [&] {
    return cfg.path + ":" + std::to_string(model.line) + ": model '" + model.name + "': ";
  };
  UpstreamSetup setup;
  auto ep = net::parse_endpoint(model.endpoint.empty() ? default_url : model.endpoint);
  if (!ep) throw config::ConfigError(where() + "endpoint: " + ep.error().message);
  setup.endpoint = std::move(ep.value());
  if (!model.api_key_env.empty()) {
    const char* value =
        env ? env(model.api_key_env.c_str()) : std::getenv(model.api_key_env.c_str());
    if (value == nullptr || *value == '\0') {
      setup.key_missing = true;
      spdlog::warn(
          "model '{}': environment variable {} (its API key) is not set; calls to this "
          "model will fail until Triage is restarted with it",
          model.name, model.api_key_env);
    } else {
      setup.api_key = value;
      if (setup.api_key.find_first_of("\r\n") != std::string::npos) {
        throw config::ConfigError(where() + "the API key in environment variable " +
                                  model.api_key_env + " contains a line break");
      }
    }
  }
  return setup;
}

Error missing_key_error(std::string_view model, std::string_view api_key_env) {
  // The variable's name is for the operator (log, store), not for clients.
  return make_error(ErrorCode::kUnavailable,
                    "model " + std::string(model) + " is unavailable: its upstream API key is "
                                                    "not configured on the gateway",
                    "environment variable " + std::string(api_key_env) + " is not set");
}

std::string upstream_error_text(std::string_view body) {
  json::error_code ec;
  unsigned char buf[4096];
  json::static_resource mr(buf, sizeof buf);
  json::value v = json::parse(body, ec, &mr);
  if (!ec) {
    // OpenAI: {"error":{"message":..}}; Anthropic: {"type":"error","error":{"message":..}};
    // some servers: {"error":"text"} or {"message":..}.
    if (const json::object* o = v.if_object()) {
      if (auto it = o->find("error"); it != o->end()) {
        if (const json::object* e = it->value().if_object()) {
          if (auto m = e->find("message"); m != e->end() && m->value().is_string()) {
            return quote(m->value().get_string());
          }
        } else if (it->value().is_string()) {
          return quote(it->value().get_string());
        }
      }
      if (auto m = o->find("message"); m != o->end() && m->value().is_string()) {
        return quote(m->value().get_string());
      }
    }
  }
  std::string_view trimmed = body;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
    trimmed.remove_suffix(1);
  }
  return trimmed.empty() ? std::string("(empty body)") : quote(trimmed);
}

Error map_upstream_status(int status, std::string_view body, std::string_view model,
                          std::string_view api_key_env) {
  const std::string http = "HTTP " + std::to_string(status);
  const std::string m(model);
  if (status == 401 || status == 403) {
    std::string fix = api_key_env.empty() ? "the model has no api_key_env configured"
                                          : "check env var " + std::string(api_key_env);
    return make_error(ErrorCode::kUpstreamError,
                      "upstream rejected the gateway's API key for model " + m +
                          "; the gateway's operator must fix it",
                      http + ": " + fix);
  }
  std::string text = upstream_error_text(body);
  std::string internal = http + ": " + text;
  switch (status) {
    case 400:
      return make_error(ErrorCode::kInvalidRequest, "upstream rejected the request: " + text,
                        internal);
    case 404:
      return make_error(ErrorCode::kUpstreamError,
                        "upstream answered 404 for model " + m + ": " + text, internal);
    case 408:
    case 504:
      return make_error(ErrorCode::kUpstreamTimeout,
                        "upstream timed out (" + http + ") for model " + m, internal);
    case 429:
      return make_error(ErrorCode::kRateLimited,
                        "upstream rate limit reached for model " + m + ": " + text, internal);
    default:
      return make_error(ErrorCode::kUpstreamError,
                        "upstream failed with " + http + " for model " + m + ": " + text, internal);
  }
}

Error invalid_response(std::string_view why) {
  return make_error(ErrorCode::kUpstreamError,
                    "upstream returned an invalid response: " + std::string(why));
}

SteadyTime clamp_deadline(SteadyTime deadline, int64_t timeout_ms) {
  if (timeout_ms <= 0) return deadline;
  return std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(timeout_ms));
}

int64_t estimate_prompt_tokens(const core::ChatRequest& req) {
  int64_t n = 0;
  for (const core::Message& m : req.messages) n += core::estimate_tokens(m.text);
  return n;
}

void estimate_usage_if_missing(const core::ChatRequest& req, core::Completion& c,
                               bool upstream_reported) {
  if (upstream_reported) return;
  c.usage.prompt_tokens = estimate_prompt_tokens(req);
  c.usage.completion_tokens = core::estimate_tokens(c.content);
  c.usage.cached_prompt_tokens = 0;
  c.usage.estimated = true;
}

namespace {
template <typename Reset>
void append_serialized(std::string& out, Reset&& reset) {
  json::serializer sr;
  reset(sr);
  while (!sr.done()) {
    std::size_t old = out.size();
    std::size_t room = std::max<std::size_t>(256, out.capacity() - old);
    out.resize(old + room);
    std::string_view got = sr.read(out.data() + old, room);
    out.resize(old + got.size());
  }
}
}  // namespace

int64_t json_int_field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  const json::value& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return json_number_to_int64(v.get_uint64());
  if (v.is_double()) return json_number_to_int64(v.get_double());
  return 0;
}

int64_t json_number_to_int64(double v) {
  // 2^63 is exactly representable; anything at or beyond it (or NaN) has no int64 value.
  constexpr double kLimit = 9223372036854775808.0;
  if (std::isnan(v)) return 0;
  if (v >= kLimit) return std::numeric_limits<int64_t>::max();
  if (v < -kLimit) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

int64_t json_number_to_int64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

int64_t clamp_token_count(int64_t v) { return std::clamp<int64_t>(v, 0, kMaxUpstreamTokens); }

int64_t json_token_field(const json::object& o, std::string_view key) {
  return clamp_token_count(json_int_field(o, key));
}

const json::object* json_object_field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : it->value().if_object();
}

std::string_view json_string_field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

void append_json(std::string& out, const json::value& v) {
  append_serialized(out, [&](json::serializer& sr) { sr.reset(&v); });
}

void append_json_string(std::string& out, std::string_view s) {
  append_serialized(out, [&](json::serializer& sr) { sr.reset(s); });
}

namespace {
using control::FailureKind;
using control::UpstreamFailure;

// The typed failure of a transport error (never read from its text): our deadline, or the
// connection failing before (kConnect) or after (kReset) the answer began. A cancellation is
// the client's doing and says nothing about the upstream: no failure.
std::optional<UpstreamFailure> transport_failure(const Error& e, bool answer_began,
                                                 bool client_saw_bytes) {
  if (e.code == ErrorCode::kCancelled) return std::nullopt;
  UpstreamFailure f;
  f.kind = e.code == ErrorCode::kUpstreamTimeout ? FailureKind::kTimeout
           : answer_began                         ? FailureKind::kReset
                                                  : FailureKind::kConnect;
  f.client_saw_bytes = client_saw_bytes;
  return f;
}

UpstreamFailure status_failure(const net::HttpStream& s) {
  UpstreamFailure f;
  f.kind = FailureKind::kHttpStatus;
  f.http_status = s.status();
  f.retry_after_ms = control::parse_retry_after(s.retry_after(), unix_time_ms(), s.retry_after_ms());
  return f;
}

UpstreamFailure malformed_failure(bool client_saw_bytes) {
  UpstreamFailure f;
  f.kind = FailureKind::kMalformed;
  f.client_saw_bytes = client_saw_bytes;
  return f;
}
}  // namespace

boost::asio::awaitable<Result<std::string>> post_whole(const UpstreamTarget& t,
                                                       std::string_view body, SteadyTime deadline,
                                                       CallStats& stats,
                                                       Cancellation* cancellation) {
  const SteadyTime sent = SteadyClock::now();
  net::HttpRequest req;
  req.target = t.path;
  req.headers = t.headers;
  req.body = body;
  req.cancellation = cancellation;
  auto opened = co_await t.http->open(req, deadline);
  if (!opened) {
    stats.failure = transport_failure(opened.error(), false, false);
    co_return std::move(opened).error();
  }
  stats.ttfb_us = micros_between(sent, SteadyClock::now());
  net::HttpStream& s = opened.value();
  const bool ok_status = s.status() >= 200 && s.status() < 300;
  const std::size_t limit = ok_status ? t.http->options().max_body_bytes : kErrorBodyLimit;
  auto text = co_await s.read_rest(limit);
  stats.total_us = micros_between(sent, SteadyClock::now());
  if (!ok_status) stats.failure = status_failure(s);
  if (!text) {
    if (ok_status) stats.failure = transport_failure(text.error(), true, false);
    co_return std::move(text).error();
  }
  if (!ok_status) co_return map_upstream_status(s.status(), *text, t.model, t.api_key_env);
  co_return std::move(text.value());
}

boost::asio::awaitable<Result<void>> post_stream(const UpstreamTarget& t, std::string_view body,
                                                 SteadyTime deadline, CallStats& stats,
                                                 StreamAssembler& assembler,
                                                 core::StreamSink& sink,
                                                 Cancellation* cancellation) {
  static constexpr net::HttpHeader kAccept{"Accept", "text/event-stream"};
  const SteadyTime sent = SteadyClock::now();
  net::HttpHeader headers[8];
  std::size_t n = std::min<std::size_t>(t.headers.size(), 7);
  std::copy_n(t.headers.begin(), n, headers);
  headers[n++] = kAccept;
  net::HttpRequest req;
  req.target = t.path;
  req.headers = std::span<const net::HttpHeader>(headers, n);
  req.body = body;
  req.cancellation = cancellation;

  auto opened = co_await t.http->open(req, deadline);
  if (!opened) {
    stats.failure = transport_failure(opened.error(), false, false);
    co_return std::move(opened).error();
  }
  net::HttpStream& s = opened.value();
  if (s.status() < 200 || s.status() >= 300) {
    stats.failure = status_failure(s);
    auto text = co_await s.read_rest(kErrorBodyLimit);
    stats.total_us = micros_between(sent, SteadyClock::now());
    if (!text) co_return std::move(text).error();
    co_return map_upstream_status(s.status(), *text, t.model, t.api_key_env);
  }

  net::SseParser parser;
  bool first = true;
  bool wrote = false;  // a delta went to the sink: the client may have bytes of this answer
  for (;;) {
    auto bytes = co_await s.next();
    if (!bytes) {
      stats.total_us = micros_between(sent, SteadyClock::now());
      stats.failure = transport_failure(bytes.error(), true, wrote);
      co_return std::move(bytes).error();
    }
    if (bytes->empty()) {
      stats.total_us = micros_between(sent, SteadyClock::now());
      stats.failure = transport_failure(Error{}, true, wrote);
      co_return make_error(ErrorCode::kUpstreamError,
                           "upstream closed the stream before it finished",
                           "model " + std::string(t.model) +
                               ": SSE body ended without its "
                               "terminal event");
    }
    parser.feed(*bytes);
    // Deltas from one read go to the client in one write (Delta::more); the flush below ends
    // the batch, so nothing waits for the next upstream read.
    while (auto ev = parser.next()) {
      auto step = assembler.on_event(ev->event, ev->data);
      if (!step) {
        stats.total_us = micros_between(sent, SteadyClock::now());
        stats.failure = malformed_failure(wrote);
        co_return std::move(step).error();
      }
      // (GCC 12: no co_await nested in a conditional block that co_returns; see preamble)
      bool accepted = true;
      if (step->has_delta) {
        // The first token goes out at once; later deltas of the same read are batched.
        bool first_token = false;
        if (first && (!step->delta.content.empty() || step->delta.tool_calls)) {
          stats.ttfb_us = micros_between(sent, SteadyClock::now());
          first = false;
          first_token = true;
        }
        step->delta.more = !first_token && parser.has_complete_event();
        wrote = true;
        accepted = co_await sink.write(step->delta);
      }
      if (!accepted) {
        stats.total_us = micros_between(sent, SteadyClock::now());
        co_return make_error(ErrorCode::kCancelled, "the client went away",
                             "stream to model " + std::string(t.model) + " abandoned");
      }
      if (step->done) {
        s.release();  // pools the connection when the final chunk is already here
        stats.total_us = micros_between(sent, SteadyClock::now());
        if (first) stats.ttfb_us = stats.total_us;
        // No flush: the batch's last deltas go out with the stream's end (StreamSink contract:
        // the sink's owner ends every stream it started, which writes what is batched).
        co_return Result<void>();
      }
    }
    const bool flushed = co_await sink.flush();
    if (!flushed) {
      stats.total_us = micros_between(sent, SteadyClock::now());
      co_return make_error(ErrorCode::kCancelled, "the client went away",
                           "stream to model " + std::string(t.model) + " abandoned");
    }
  }
}

JsonStreamAssembler::JsonStreamAssembler(std::string_view model, std::string_view what)
    : event_(json::storage_ptr(&mr_)), what_(what) {
  out_.model = std::string(model);
}

Result<const json::object*> JsonStreamAssembler::parse_event(std::string_view data) {
  event_.emplace_null();
  mr_.release();
  json::error_code ec;
  event_ = json::parse(data, ec, json::storage_ptr(&mr_));
  if (ec) {
    return invalid_response("a " + std::string(what_) + " is not JSON (" + ec.message() + ")");
  }
  const json::object* o = event_.if_object();
  if (!o) return invalid_response("a " + std::string(what_) + " is not a JSON object");
  return o;
}

boost::asio::awaitable<Result<core::Completion>> call_whole(const UpstreamTarget& t,
                                                            const core::ChatRequest& req,
                                                            std::string body, SteadyTime deadline,
                                                            CallStats& stats, ParseResponse parse) {
  auto text = co_await post_whole(t, body, deadline, stats, req.meta.cancellation.get());
  if (!text) co_return std::move(text).error();
  bool reported = false;
  auto c = parse(*text, t.model, reported);
  if (!c) {
    stats.failure = malformed_failure(false);
    co_return std::move(c).error();
  }
  estimate_usage_if_missing(req, *c, reported);
  co_return c;
}

boost::asio::awaitable<Result<core::Completion>> call_stream(
    const UpstreamTarget& t, const core::ChatRequest& req, std::string body, SteadyTime deadline,
    CallStats& stats, JsonStreamAssembler& assembler, core::StreamSink& sink) {
  auto r =
      co_await post_stream(t, body, deadline, stats, assembler, sink, req.meta.cancellation.get());
  if (!r) co_return std::move(r).error();
  core::Completion c = std::move(assembler.completion());
  estimate_usage_if_missing(req, c, assembler.reported_usage());
  co_return c;
}

}  // namespace triage::providers
