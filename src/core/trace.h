#pragma once
// A Trace is everything that happened for one request. It is built on the request's I/O thread,
// then handed (moved, immutable from then on) to the sinks: metrics, request store, review
// queue, OTel export. Times are microseconds; money is USD.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/review_flag.h"

namespace triage::core {

enum class SpanKind { kRoute, kModelCall, kCheck };

// How a cascade ended at the step it stopped at (routes/cascade.h).
enum class CascadeOutcome {
  kAccepted,           // the step's answer was returned: its checks passed (or it was final)
  kFinalChecksFailed,  // the final step's answer was returned although its checks failed
  kFailed,             // the step failed with an error that ends the cascade
  kCancelled,          // the step's answer was accepted, but the client went away first
};

// Where a cascade stopped: the typed record of its route span, which the store keeps as the
// span's "cascade" object and the dashboard's funnel counts (docs/store.md "spans").
struct CascadeStop {
  int step = 0;            // 0-based index of the step that ended the cascade
  std::string step_route;  // that step's route name
  CascadeOutcome outcome = CascadeOutcome::kAccepted;
};

// Why a route skipped a model without calling it (docs/routes.md "Capabilities"): the request
// needs something the model cannot take. `need` and `limit` are tokens for kContext and
// kMaxOutput, unused otherwise. Rendered by skip_reason_text(): "context 12k > 8k", "tools".
enum class SkipKind { kContext, kMaxOutput, kTools, kImages, kJsonSchema };
struct SkipReason {
  SkipKind kind = SkipKind::kContext;
  int64_t need = 0;
  int64_t limit = 0;
};
std::string_view skip_kind_name(SkipKind kind);  // "context" | "max_output" | "tools" | ...
// "context 12k > 8k", "max_output 8000 > 4096", "tools", "images", "json_schema".
std::string skip_reason_text(const SkipReason& reason);

// Whether a request was answered from the response cache (docs/cache.md); kNone when the
// route or model it named has no cache.
enum class CacheOutcome { kNone, kHit, kMiss, kBypass };
std::string_view cache_outcome_name(CacheOutcome outcome);  // "" | "hit" | "miss" | "bypass"

struct Span {
  SpanKind kind = SpanKind::kModelCall;
  std::string name;    // route name, catalog model name or check name
  std::string detail;  // versioned implementation ("openai/1", "rules/1") or the decision made
  std::string tier;    // model calls: the model's tier
  int64_t start_us = 0;     // offset from the trace start
  int64_t duration_us = 0;  // model calls: queue + upstream
  int64_t queue_us = 0;     // waiting for a concurrency slot
  int64_t ttfb_us = 0;      // upstream time to first byte (model calls)
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  bool tokens_estimated = false;
  double cost_usd = 0.0;
  bool ok = true;
  std::string error;  // error code name when !ok
  // Model calls, only when Trace::keep_payloads: the answer text this call produced (also for
  // attempts a cascade rejected). Goes to the store's `prompts` table, never to metrics.
  std::string output;
  // Model calls: Completion::grade, the recorded grade (0..1) of this answer when the provider
  // knows one (replay with a score_column). Stored in the span JSON as "grade" only when set.
  std::optional<double> grade;
  // Cascade route spans only (set by routes/cascade.cc): where the cascade stopped and how.
  std::optional<CascadeStop> cascade;
  // Route spans of a decide-only shadow's candidate (set by routes/shadow_route.cc): the catalog
  // model the candidate would have picked; empty on every other span. The store keeps it as
  // the span's "shadow_decision" key; `triage analyze` reads it (docs/store.md "spans").
  std::string shadow_decision;
  // Route spans of a trained router's decision (threshold routes, and a decide-only shadow's
  // threshold candidates): the version of the router file that decided (ml::ThresholdScorer::
  // version(), "r-1a2b3c4d"); empty on every other span. Stored as the span's "router_version"
  // key, exported as the OTLP attribute triage.router_version (docs/loop.md).
  std::string router_version;
  // Model calls (routes/model_runtime.cc, docs/resilience.md). Each retry's reason, in order
  // ("http_429", "connect", ...): attempts = 1 + retries.size().
  std::vector<std::string> retries;
  // Why no (further) retry was made when the call failed ("deadline", "budget_exhausted"...).
  std::string no_retry;
  // The circuit breaker's state when the call was let through or refused ("" = closed).
  std::string breaker;
  // The deployment that answered (models with several deployments).
  std::string deployment;
  // Load shedding: "overflow" (sent to the model's overflow alternative) or "rejected".
  std::string shed;
  // Model calls refused because the model cannot take the request (routes/eligibility.h):
  // the span has ok = false, error "no_eligible_model" and detail "skipped: <reason>".
  std::optional<SkipReason> skipped;
  // The route span a shadow adds to a candidate's derived trace (routes/shadow_route.h):
  // whether the candidate's answer agrees with the primary's; nullopt everywhere else (and
  // when the candidate failed).
  std::optional<bool> agrees;
};

// The child a `split` route chose for a request (routes/split_route.h): what a progressive
// rollout measures per child (server/rollouts.h).
struct SplitChoice {
  std::string route;  // the split route
  std::string child;  // the child route it sent the request to
};

// The wire API a request came in through (api/dialect.h; /v1/embeddings for kEmbeddings).
enum class ClientApi { kChat, kMessages, kResponses, kEmbeddings };
// "chat" | "messages" | "responses" | "embeddings": the store's `api` column, metrics, exports.
std::string_view client_api_name(ClientApi api);
// The inverse; kChat for an unknown or empty name (rows written before the column existed).
ClientApi client_api_from_name(std::string_view name);

struct Trace {
  std::string request_id;
  int64_t time_ms = 0;  // unix ms when the request arrived
  std::string api_key_id;    // "key_" + 12 hex (control::key_id_from_digest); never the secret
  std::string api_key_name;  // the key's name when the gateway knows the key (auth: keys)
  std::string cohort;
  std::string category;
  std::string user;
  std::string requested_model;  // the `model` field as sent
  std::string route;            // the route that served it; empty for a direct model call
  std::string model;            // catalog model whose answer was returned
  std::string tier;
  std::string provider;
  bool stream = false;
  ClientApi api = ClientApi::kChat;
  // The sequence number of the config version that served the request (config/
  // config_version.h); 0 when none (offline evaluation). A request keeps the version it
  // started on to its end, streams included.
  int64_t config_version = 0;

  int64_t tokens_in = 0;  // summed over every model call of the request
  int64_t tokens_out = 0;
  bool tokens_estimated = false;
  double cost_usd = 0.0;  // summed over every model call of the request

  // Latency split. total = routing + queue + upstream + overhead.
  int64_t routing_us = 0;        // route decisions (classifiers, rules)
  int64_t queue_us = 0;          // waiting for model concurrency slots
  int64_t upstream_ttfb_us = 0;  // first model call: time to first byte
  int64_t upstream_us = 0;       // all model calls, end to end
  int64_t overhead_us = 0;       // everything else the gateway did
  int64_t total_us = 0;

  int http_status = 200;
  std::string error_code;  // empty on success
  std::string error_message;
  std::string finish_reason;
  bool synthesized = false;
  CacheOutcome cache = CacheOutcome::kNone;  // the response cache's part (docs/cache.md)

  std::string label;  // classifier label, when a classifier ran
  double confidence = 0.0;
  // Why this request may deserve review, in the order set (core/review_flag.h).
  std::vector<ReviewFlag> flags;
  std::vector<Span> spans;
  // Every split the request went through, outermost first. A shadow's derived trace carries
  // its parent's, so a comparison is attributed to the child that served the parent.
  std::vector<SplitChoice> split_choices;

  // Payload capture (config store.keep_payloads). When set by the gateway, route code fills
  // Span::output for model calls; the gateway fills prompt_json (the request's `messages` as
  // JSON, as sent) and response_text (the answer returned). All empty when not set.
  bool keep_payloads = false;
  std::string prompt_json;
  std::string response_text;
};

using TracePtr = std::shared_ptr<const Trace>;

// Completes the latency split of a request that took `total_us` end to end: sets total_us and
// overhead_us = total - routing - queue - upstream, never negative (parts measured on other
// clocks, a replay's modelled times, may add up to more). The one place the split is completed:
// the gateway calls it before it writes the answer's latency and again, through its sink list,
// before the trace goes to the sinks.
void complete_latency_split(Trace& trace, int64_t total_us);

// Receives finished traces. consume() is called on an I/O thread and must not block: a sink
// that does I/O queues the trace and works on its own thread.
class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void consume(const TracePtr& trace) = 0;
};

// The request id of a shadow candidate's derived trace: "<parent>-s<index>"
// (routes/shadow_route.h), and back: the parent of such an id, nullopt for any other id.
std::string shadow_request_id(std::string_view parent, std::size_t index);
std::optional<std::string> shadow_parent_id(std::string_view request_id);

}  // namespace triage::core
