#include "server/trace_sinks.h"

#include <memory>
#include <utility>

namespace triage::server {

void TraceSinkList::publish(core::Trace&& trace, int64_t total_us) const {
  core::complete_latency_split(trace, total_us);
  const core::TracePtr done = std::make_shared<const core::Trace>(std::move(trace));
  for (core::TraceSink* sink : sinks_) sink->consume(done);
}

}  // namespace triage::server
