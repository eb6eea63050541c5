// POST /v1/embeddings: passed through to a catalog model of kind: embedding, on the same path
// as every chat request (key and allow-list, reservation against the key's limits and
// budgets, trace, store, metrics), so that embeddings can never bypass a budget.
// Errors are in OpenAI's shape. No retries or failover yet (docs/api.md).
#include <boost/asio/awaitable.hpp>

#include "api/embeddings.h"
#include "common/ids.h"
#include "core/tokens.h"
#include "server/gateway.h"
#include "server/sse_sink.h"

namespace triage::server {

namespace asio = boost::asio;

namespace {

// The catalog's embedding models, for the 400 that says which ones can embed.
std::string embedding_models(const config::Config& cfg) {
  std::string names;
  for (const config::Model& m : cfg.models) {
    if (m.kind != config::ModelKind::kEmbedding) continue;
    names += (names.empty() ? "'" : ", '") + m.name + "'";
  }
  return names.empty() ? std::string("none is configured (declare one with kind: embedding)")
                       : names;
}

// The model a request names, when it can embed; the 404 or 400 to answer otherwise.
Result<routes::ModelRuntime*> embedding_model(routes::RouteTable& routes,
                                              const config::Config& cfg,
                                              const std::string& name) {
  routes::ModelRuntime* model = routes.find_model(name);
  if (model != nullptr && model->model().kind == config::ModelKind::kEmbedding) return model;
  if (model == nullptr && routes.find(name) == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      "The model '" + name + "' does not exist in this Triage gateway; models "
                          "that can embed: " + embedding_models(cfg),
                      {}, "model");
  }
  return make_error(ErrorCode::kInvalidRequest,
                    "'" + name + "' is a chat " + (model ? "model" : "route") +
                        " and cannot embed; models that can embed: " + embedding_models(cfg),
                    {}, "model");
}

// The worst case reserved before the call: every byte of the body one input token (a token
// is at least one byte), priced at the model's input price.
AccessControl::WorstCase embeddings_worst_case(std::size_t body_bytes, const config::Model& m) {
  const auto tokens = static_cast<int64_t>(body_bytes);
  return {tokens, config::cost_usd(m.prices, tokens, 0)};
}

}  // namespace

asio::awaitable<void> Gateway::embeddings(net::IncomingRequest& in, net::ResponseWriter& out) {
  const api::Dialect& shape = api::chat_dialect();  // OpenAI's error shape
  const SteadyTime start = SteadyClock::now();
  // The config version this request runs on, held to its end (see chat()).
  const std::shared_ptr<const Serving> serving = versions_->current();
  const config::Config& cfg = serving->cfg();
  core::Trace trace;
  trace.api = core::ClientApi::kEmbeddings;
  trace.config_version = serving->version.seq;
  trace.time_ms = unix_time_ms();
  trace.request_id = "req_" + time_ordered_hex_id(trace.time_ms);
  std::shared_ptr<const control::ApiKey> key;
  if (std::optional<Error> unknown = identify(in, trace, key)) {
    co_await respond_error(trace, start, out, *unknown, shape);
    co_return;
  }
  if (std::optional<Error> bad = check_envelope(cfg, in)) {
    co_await respond_error(trace, start, out, *bad, shape);
    co_return;
  }
  Result<api::EmbeddingsRequest> parsed = api::parse_embeddings_request(in.body());
  if (!parsed) {
    co_await respond_error(trace, start, out, parsed.error(), shape);
    co_return;
  }
  const api::EmbeddingsRequest& req = parsed.value();
  trace.requested_model = req.model;
  trace.user = req.user;
  trace.category = std::string(in.header("x-triage-category"));
  Result<routes::ModelRuntime*> found = embedding_model(serving->routes(), cfg, req.model);
  if (!found) {
    co_await respond_error(trace, start, out, found.error(), shape);
    co_return;
  }
  routes::ModelRuntime& model = *found.value();
  const config::Model& m = model.model();
  control::Reservation hold;  // settled by finish(), whatever way the request ends
  if (key) {
    const std::size_t body_bytes = in.body().size();
    const auto worst = [&] { return embeddings_worst_case(body_bytes, m); };
    KeyAdmission admitted = admit_key(*key, req.model, worst, trace.time_ms);
    if (std::holds_alternative<control::OwnedReserveRequest>(admitted)) {
      control::OwnedReserveRequest request = std::get<control::OwnedReserveRequest>(std::move(admitted));
      KeyAdmission remote = co_await reserve_remote(std::move(request));
      admitted = std::move(remote);
    }
    if (auto* refused = std::get_if<Error>(&admitted)) {
      co_await respond_error(trace, start, out, *refused, shape);
      co_return;
    }
    hold = std::get<control::Reservation>(std::move(admitted));
  }
  std::shared_ptr<Cancellation> cancellation;
  if (cfg.server.cancel_on_disconnect) {
    cancellation = std::make_shared<Cancellation>();
    in.on_client_gone([c = cancellation.get()] { c->cancel(); });  // see chat()
  }

  core::Span span;
  span.kind = core::SpanKind::kModelCall;
  span.name = m.name;
  span.detail = std::string(model.client().name());
  span.tier = m.tier;
  trace.model = m.name;
  trace.tier = m.tier;
  trace.provider = span.detail;
  const SteadyTime sent = SteadyClock::now();
  span.start_us = micros_between(start, sent);
  const SteadyTime deadline = sent + std::chrono::milliseconds(
                                         std::min(cfg.server.request_timeout_ms, m.timeout_ms));
  providers::CallStats stats;
  Result<providers::EmbeddingAnswer> answer =
      co_await model.client().embed(req.body, deadline, stats, cancellation.get());
  span.duration_us = micros_between(sent, SteadyClock::now());
  span.ttfb_us = stats.ttfb_us;
  trace.upstream_ttfb_us = stats.ttfb_us;
  trace.upstream_us = span.duration_us;
  if (!answer) {
    span.ok = false;
    span.error = std::string(error_code_name(answer.error().code));
    trace.spans.push_back(std::move(span));
    co_await respond_error(trace, start, out, answer.error(), shape, &hold);
    co_return;
  }
  span.tokens_in = answer->prompt_tokens;
  if (!answer->reported_usage) {
    for (const std::string& text : req.texts) span.tokens_in += core::estimate_tokens(text);
    span.tokens_estimated = true;
  }
  span.cost_usd = config::cost_usd(m.prices, span.tokens_in, 0);
  trace.tokens_in = span.tokens_in;
  trace.tokens_estimated = span.tokens_estimated;
  trace.cost_usd = span.cost_usd;
  trace.spans.push_back(std::move(span));

  core::complete_latency_split(trace, micros_between(start, SteadyClock::now()));
  std::string body = api::serialize_embeddings(std::move(answer->list), m.name,
                                               api::triage_info(trace));
  net::HeaderList headers = triage_headers(trace);
  headers.emplace_back("x-triage-cost-usd", format_usd(trace.cost_usd));
  const std::string_view content_type = "application/json";  // named: GCC 12 and co_await
  const bool delivered = co_await out.send(200, content_type, headers, std::move(body));
  if (!delivered) {
    trace.error_code = std::string(error_code_name(ErrorCode::kCancelled));
    trace.error_message = "client went away before the response was written";
  }
  finish(trace, start, &hold);
}

}  // namespace triage::server
