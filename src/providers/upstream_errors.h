#pragma once
// What the `openai` and `anthropic` providers share: the one mapping of upstream HTTP failures
// to Errors, the call plumbing around net::HttpClient (deadline, status check, SSE loop, the
// whole non-streaming and streaming calls), tolerant readers of upstream JSON, and usage
// estimation when an upstream reports none.
#include <boost/asio/awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "core/chat.h"
#include "net/http_client.h"
#include "providers/provider.h"

namespace triage::providers {

// Who is being called, for error messages. Views must outlive the call.
struct UpstreamTarget {
  const net::HttpClient* http = nullptr;
  std::string_view path;  // full request target ("/v1/chat/completions")
  std::span<const net::HttpHeader> headers;
  std::string_view model;        // catalog model name
  std::string_view api_key_env;  // NAME of the key's env var (never its value)
};

// What both HTTP providers build at start-up from a model's config.
struct UpstreamSetup {
  net::Endpoint endpoint;
  std::string api_key;       // empty when none is configured or the variable is unset
  bool key_missing = false;  // api_key_env is set but the variable is not: calls fail
};

// Parses model.endpoint (default_url when empty) and reads env(model.api_key_env). An unset or
// empty variable logs a warning naming the variable and sets key_missing. Throws
// config::ConfigError for a bad URL or a key containing a line break (the key is never echoed).
UpstreamSetup prepare_upstream(const config::Config& cfg, const config::Model& model,
                               const EnvLookup& env, std::string_view default_url);

// kUnavailable: "model X is unavailable: its upstream API key is not configured on the gateway"; the variable's
// NAME is in `internal` only (clients are never told the server's env var names).
Error missing_key_error(std::string_view model, std::string_view api_key_env);

// Maps a non-2xx upstream answer to an Error (the only such mapping):
// 400 -> kInvalidRequest ("upstream rejected the request: <upstream message>"),
// 401/403 -> kUpstreamError (the key's env var named in `internal` only), 408/504 -> kUpstreamTimeout,
// 429 -> kRateLimited, 404, 5xx and anything else -> kUpstreamError.
// `body` is the upstream's error body; its error.message is quoted (truncated) except for
// 401/403, whose messages may echo part of the key.
Error map_upstream_status(int status, std::string_view body, std::string_view model,
                          std::string_view api_key_env);

// "upstream returned an invalid response: <why>" (kUpstreamError).
Error invalid_response(std::string_view why);

// The upstream's error.message from an OpenAI- or Anthropic-style error body, else the body's
// start; at most ~300 characters.
std::string upstream_error_text(std::string_view body);

// min(deadline, now + timeout_ms) (timeout_ms <= 0: deadline).
SteadyTime clamp_deadline(SteadyTime deadline, int64_t timeout_ms);

// Estimated prompt tokens of a request (sum over message texts), for upstreams without usage.
int64_t estimate_prompt_tokens(const core::ChatRequest& req);

// Fills `usage` by estimation when the upstream reported nothing.
void estimate_usage_if_missing(const core::ChatRequest& req, core::Completion& c,
                               bool upstream_reported);

// Fields of an upstream's JSON answer, tolerant of absence and of a wrong type: 0, nullptr and
// "" then. Integers may come as int64, uint64 or double (truncated). Views point into `o`.
int64_t json_int_field(const boost::json::object& o, std::string_view key);
// A token count from an upstream: json_int_field clamped to [0, kMaxUpstreamTokens], so that a
// broken or hostile upstream can make neither sums of counts overflow nor costs negative.
constexpr int64_t kMaxUpstreamTokens = int64_t{1} << 40;
int64_t json_token_field(const boost::json::object& o, std::string_view key);
// The same conversions for a streaming reader's number events (openai_fast_parse.cc): a double
// is truncated and saturates at the int64 range, a uint64 above it saturates (never undefined
// behaviour, whatever the upstream sends).
int64_t json_number_to_int64(double v);
int64_t json_number_to_int64(uint64_t v);
int64_t clamp_token_count(int64_t v);
const boost::json::object* json_object_field(const boost::json::object& o, std::string_view key);
std::string_view json_string_field(const boost::json::object& o, std::string_view key);

// Appends the JSON serialization of `v` to `out` without an intermediate string.
void append_json(std::string& out, const boost::json::value& v);
void append_json_string(std::string& out, std::string_view s);

// POSTs `body` and returns the whole body of a 2xx answer; other statuses are mapped with
// map_upstream_status. stats.ttfb_us is set when the response head arrives.
// `cancellation` (may be null): the request's (core::RequestMeta::cancellation); cancelling it
// abandons the call with kCancelled.
boost::asio::awaitable<Result<std::string>> post_whole(const UpstreamTarget& t,
                                                       std::string_view body, SteadyTime deadline,
                                                       CallStats& stats,
                                                       Cancellation* cancellation = nullptr);

// One streaming protocol: turns SSE events into deltas and assembles the final completion.
class StreamAssembler {
 public:
  struct Step {
    bool has_delta = false;
    bool done = false;  // the stream's terminal event was seen
    core::Delta delta;  // views valid until the next on_event()
  };
  virtual ~StreamAssembler() = default;
  virtual Result<Step> on_event(std::string_view event, std::string_view data) = 0;
};

// A StreamAssembler for streams whose every event's data is one JSON object: parses each into
// a reused arena and holds the completion being assembled. Not thread-safe (one per stream).
class JsonStreamAssembler : public StreamAssembler {
 public:
  core::Completion& completion() { return out_; }
  bool reported_usage() const { return reported_usage_; }

 protected:
  // `model` is recorded in the completion; `what` names one event in errors ("stream chunk").
  JsonStreamAssembler(std::string_view model, std::string_view what);
  // Parses `data`, replacing the previous event (its views become invalid). The object lives
  // until the next call. kUpstreamError "upstream returned an invalid response: a <what> is not
  // JSON (...)" or "... a <what> is not a JSON object".
  Result<const boost::json::object*> parse_event(std::string_view data);

  core::Completion out_;
  bool reported_usage_ = false;

 private:
  unsigned char initial_[4096];
  boost::json::monotonic_resource mr_{initial_, sizeof initial_};
  boost::json::value event_;  // the current event (in mr_); delta views point into it
  std::string_view what_;
};

// Parses a non-streaming answer body into a completion recording `model`; `reported_usage` is
// false when the answer had no usage.
using ParseResponse = Result<core::Completion> (*)(std::string_view body, std::string_view model,
                                                   bool& reported_usage);

// One non-streaming call: post_whole(body), then `parse` (with t.model) and usage estimated
// when the upstream reported none.
boost::asio::awaitable<Result<core::Completion>> call_whole(const UpstreamTarget& t,
                                                            const core::ChatRequest& req,
                                                            std::string body, SteadyTime deadline,
                                                            CallStats& stats, ParseResponse parse);

// One streaming call: post_stream(body) through `assembler`, then its completion with usage
// estimated when the upstream reported none.
boost::asio::awaitable<Result<core::Completion>> call_stream(
    const UpstreamTarget& t, const core::ChatRequest& req, std::string body, SteadyTime deadline,
    CallStats& stats, JsonStreamAssembler& assembler, core::StreamSink& sink);

// POSTs `body` expecting an SSE answer and feeds each event to `assembler`, writing deltas to
// `sink` as they arrive. Returns when the assembler reports done (kUpstreamError if the stream
// ends first, kCancelled if the sink refuses a write). stats.ttfb_us = first delta with content.
boost::asio::awaitable<Result<void>> post_stream(const UpstreamTarget& t, std::string_view body,
                                                 SteadyTime deadline, CallStats& stats,
                                                 StreamAssembler& assembler,
                                                 core::StreamSink& sink,
                                                 Cancellation* cancellation = nullptr);

}  // namespace triage::providers
