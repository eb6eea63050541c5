#include "core/trace.h"

#include <algorithm>

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

void complete_latency_split(Trace& trace, int64_t total_us) {
  trace.total_us = total_us;
  trace.overhead_us =
      std::max<int64_t>(0, total_us - trace.routing_us - trace.queue_us - trace.upstream_us);
}

}  // namespace triage::core
