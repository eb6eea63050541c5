// The SSE parser on arbitrary upstream bytes, fed whole and fed in slices cut where the input's
// first bytes say (as TCP may cut them, even inside a CRLF): both must yield the same events.
// The events then go through the OpenAI stream assembler, as the openai provider does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "net/sse.h"
#include "providers/openai.h"

namespace {

struct Ev {
  std::string event, data, id;
  bool operator==(const Ev&) const = default;
};

void drain(triage::net::SseParser& p, std::vector<Ev>& out) {
  while (auto ev = p.next()) out.push_back({std::string(ev->event), std::string(ev->data),
                                            std::string(ev->id)});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // First byte: slice length seed (1..16); the rest is the stream.
  const size_t step = 1 + (data[0] % 16);
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  triage::net::SseParser whole;
  std::vector<Ev> a;
  whole.feed(stream);
  drain(whole, a);
  FUZZ_CHECK(!whole.has_complete_event());  // next() returned nullopt: nothing complete is left

  triage::net::SseParser sliced;
  std::vector<Ev> b;
  for (size_t pos = 0; pos < stream.size(); pos += step) {
    sliced.feed(stream.substr(pos, step));
    drain(sliced, b);
    FUZZ_CHECK(!sliced.has_complete_event());
  }
  FUZZ_CHECK(a == b);
  FUZZ_CHECK(whole.has_partial() == sliced.has_partial());

  triage::providers::openai::ChunkAssembler assembler("catalog");
  for (const Ev& ev : a) {
    auto step_r = assembler.on_event(ev.event, ev.data);
    if (!step_r.ok()) {
      FUZZ_CHECK(!step_r.error().message.empty());
      break;
    }
    if (step_r->done) break;
  }
  (void)assembler.completion();
  return 0;
}
