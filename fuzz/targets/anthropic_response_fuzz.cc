// The answer translation: an Anthropic Messages API answer, read whole (parse_response) and read
// as an event stream (SSE parser -> EventAssembler), as the anthropic provider does. Neither may
// throw; errors carry a message; token counts never go negative from sums of non-negative fields.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "net/sse.h"
#include "providers/anthropic.h"

namespace anthropic = triage::providers::anthropic;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  bool usage = false;
  const auto whole = anthropic::parse_response(bytes, "claude", usage);
  if (!whole.ok()) {
    FUZZ_CHECK(!whole.error().message.empty());
  } else {
    FUZZ_CHECK(whole->model == "claude");
    FUZZ_CHECK(!whole->finish_reason.empty());
  }

  triage::net::SseParser sse;
  sse.feed(bytes);
  anthropic::EventAssembler assembler("claude");
  while (auto ev = sse.next()) {
    auto step = assembler.on_event(ev->event, ev->data);
    if (!step.ok()) {
      FUZZ_CHECK(!step.error().message.empty());
      break;
    }
    if (step->has_delta) FUZZ_CHECK(!step->delta.content.empty());
    if (step->done) break;
  }
  (void)anthropic::finish_reason(bytes);
  return 0;
}
