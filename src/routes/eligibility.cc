#include "routes/eligibility.h"

#include "config/capabilities.h"
#include "core/needs.h"

namespace triage::routes {

namespace {

// What the client should change, per need.
std::string explain(const core::SkipReason& r) {
  switch (r.kind) {
    case core::SkipKind::kContext:
      return "the prompt (about " + std::to_string(r.need) +
             " tokens with max_tokens) exceeds its context window of " + std::to_string(r.limit) +
             " tokens";
    case core::SkipKind::kMaxOutput:
      return "max_tokens " + std::to_string(r.need) + " exceeds its max output of " +
             std::to_string(r.limit) + " tokens";
    case core::SkipKind::kTools:
      return "it cannot call tools";
    case core::SkipKind::kImages:
      return "it does not read images";
    case core::SkipKind::kJsonSchema:
      return "it does not support response_format json_schema";
  }
  return "it cannot take it";
}

}  // namespace

std::optional<core::SkipReason> ineligibility(const config::Model& model,
                                              const core::ChatRequest& req) {
  const config::Capabilities& c = model.capabilities;
  const bool limits = model.context_window > 0 || model.max_output_tokens > 0 || !c.tools ||
                      !c.images || !c.json_schema;
  if (!limits) return std::nullopt;  // the common case: no pass over the messages
  return config::ineligibility(model, core::needs_of(req));
}

void record_skip(ExecContext& ctx, const config::Model& model, const core::SkipReason& reason) {
  core::Span span;
  span.kind = core::SpanKind::kModelCall;
  span.name = model.name;
  span.tier = model.tier;
  span.detail = "skipped: " + core::skip_reason_text(reason);
  span.start_us = micros_between(ctx.start, SteadyClock::now());
  span.ok = false;
  span.error = std::string(error_code_name(ErrorCode::kNoEligibleModel));
  span.skipped = reason;
  ctx.trace.spans.push_back(std::move(span));
}

void record_refusal(ExecContext& ctx, const Refusal& refusal) {
  if (refusal.ineligible && refusal.model) record_skip(ctx, *refusal.model, *refusal.ineligible);
}

std::optional<Error> refuse_ineligible(const config::Model& model, const core::ChatRequest& req,
                                       ExecContext& ctx) {
  const std::optional<core::SkipReason> why = ineligibility(model, req);
  if (!why) return std::nullopt;
  record_skip(ctx, model, *why);
  return make_error(ErrorCode::kNoEligibleModel,
                    "model '" + model.name + "' cannot take this request (" +
                        core::skip_reason_text(*why) + "): " + explain(*why));
}

Error no_eligible_error(const std::string& route, const ExecContext& ctx, std::size_t first_span) {
  std::string msg = "no model of route '" + route + "' can take this request:";
  const std::vector<core::Span>& spans = ctx.trace.spans;
  bool first = true;
  for (std::size_t i = first_span; i < spans.size(); ++i) {
    if (!spans[i].skipped) continue;
    msg += (first ? " '" : ", '") + spans[i].name + "' (" +
           core::skip_reason_text(*spans[i].skipped) + ")";
    first = false;
  }
  return make_error(ErrorCode::kNoEligibleModel, std::move(msg));
}

}  // namespace triage::routes
