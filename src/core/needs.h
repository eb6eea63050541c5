#pragma once
// What a request needs from the model that answers it, read from the request itself: the
// capability-aware routing of docs/routes.md ("Capabilities") compares these with a catalog
// model's capabilities (config/capabilities.h).
#include <cstdint>

#include "core/chat.h"

namespace triage::core {

struct RequestNeeds {
  int64_t prompt_tokens = 0;  // estimated (core/tokens.h) over every message's text
  int64_t max_tokens = 0;     // the client's max_tokens; 0 = not set
  bool tools = false;         // `tools` (or legacy `functions`) is a non-empty list
  bool images = false;        // some message has an image part
  bool json_schema = false;   // response_format.type is "json_schema"

  // Tokens the context window must hold: the prompt plus the answer the client allows.
  int64_t context_tokens() const { return prompt_tokens + max_tokens; }
};

// Reads the needs of `req` from its typed fields and its (OpenAI chat-shaped) body. One pass
// over the messages' text.
RequestNeeds needs_of(const ChatRequest& req);

}  // namespace triage::core
