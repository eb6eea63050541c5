#include "core/trace.h"

#include <algorithm>
#include <string>

namespace triage::core {

std::string_view client_api_name(ClientApi api) {
  switch (api) {
    case ClientApi::kChat:
      return "chat";
    case ClientApi::kMessages:
      return "messages";
    case ClientApi::kResponses:
      return "responses";
    case ClientApi::kEmbeddings:
      return "embeddings";
  }
  return "chat";
}

ClientApi client_api_from_name(std::string_view name) {
  for (ClientApi api : {ClientApi::kMessages, ClientApi::kResponses, ClientApi::kEmbeddings}) {
    if (name == client_api_name(api)) return api;
  }
  return ClientApi::kChat;
}

std::string_view skip_kind_name(SkipKind kind) {
  switch (kind) {
    case SkipKind::kContext:
      return "context";
    case SkipKind::kMaxOutput:
      return "max_output";
    case SkipKind::kTools:
      return "tools";
    case SkipKind::kImages:
      return "images";
    case SkipKind::kJsonSchema:
      return "json_schema";
  }
  return "context";
}

namespace {
// 12000 -> "12k", 800 -> "800"; exact digits when the rounded forms of `a` and `b` would
// read the same ("12k > 12k").
std::string compact_tokens(int64_t n) {
  return n < 1000 ? std::to_string(n) : std::to_string(n / 1000) + "k";
}
}  // namespace

std::string skip_reason_text(const SkipReason& r) {
  std::string out(skip_kind_name(r.kind));
  if (r.kind == SkipKind::kContext) {
    std::string need = compact_tokens(r.need);
    std::string limit = compact_tokens(r.limit);
    if (need == limit) {
      need = std::to_string(r.need);
      limit = std::to_string(r.limit);
    }
    out.append(" ").append(need).append(" > ").append(limit);
  } else if (r.kind == SkipKind::kMaxOutput) {
    out.append(" ").append(std::to_string(r.need)).append(" > ").append(std::to_string(r.limit));
  }
  return out;
}

std::string_view cache_outcome_name(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kNone:
      return "";
    case CacheOutcome::kHit:
      return "hit";
    case CacheOutcome::kMiss:
      return "miss";
    case CacheOutcome::kBypass:
      return "bypass";
  }
  return "";
}

void complete_latency_split(Trace& trace, int64_t total_us) {
  trace.total_us = total_us;
  trace.overhead_us =
      std::max<int64_t>(0, total_us - trace.routing_us - trace.queue_us - trace.upstream_us);
}

std::string shadow_request_id(std::string_view parent, std::size_t index) {
  return std::string(parent) + "-s" + std::to_string(index);
}

std::optional<std::string> shadow_parent_id(std::string_view id) {
  const std::size_t dash = id.rfind("-s");
  if (dash == std::string_view::npos || dash == 0 || dash + 2 >= id.size()) return std::nullopt;
  for (std::size_t i = dash + 2; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return std::nullopt;
  }
  return std::string(id.substr(0, dash));
}

}  // namespace triage::core
