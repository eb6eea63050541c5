#pragma once
// The sinks every finished trace goes to (metrics, request store, review queue, OTLP export,
// and whatever a deployment adds), as one list the gateway hands each trace to. The list is
// also the one place a trace's latency split is completed before anyone reads it.
#include <cstdint>
#include <vector>

#include "core/trace.h"

namespace triage::server {

class TraceSinkList {
 public:
  // Appends `sink`; traces reach sinks in the order they were added. Start-up only: not
  // thread-safe with publish(). The sink is not owned and must outlive the list.
  void add(core::TraceSink& sink) { sinks_.push_back(&sink); }

  // Completes the latency split for a request that took `total_us` end to end
  // (core::complete_latency_split), then hands the trace, immutable from here on, to every sink
  // exactly once, in order. Called from any I/O thread, concurrently: the sinks' consume() must
  // allow that (they do: core::TraceSink).
  void publish(core::Trace&& trace, int64_t total_us) const;

  size_t size() const { return sinks_.size(); }

 private:
  std::vector<core::TraceSink*> sinks_;
};

}  // namespace triage::server
