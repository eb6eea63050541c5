#pragma once
// OTLP/HTTP (JSON) trace export: one OpenTelemetry trace per request, sent in batches to a
// collector (config `otel:`, docs/metrics.md "Traces").
//
// Shape of one request's trace:
//   root span  "chat {requested_model}", kind SERVER, the whole request
//     child    one per route decision (INTERNAL), model call (CLIENT) and check (INTERNAL),
//              in trace order, with start/end from the span offsets
// Ids are derived from the request id, so a request id found in the store or a log leads to
// its trace: trace id = first 16 bytes of SHA-256(request_id); root span id = the next 8
// bytes; child i's span id = a 64-bit mix of (root span id, i + 1). All hex, lower case.
//
// Threading: consume() may be called from any thread; it only appends to a bounded queue
// (dropping and counting when full) and never waits for I/O. One worker thread owns an
// io_context and the HttpClient, builds each batch's JSON (Boost.JSON) and POSTs it; a failed
// POST (transport error, 429 or 5xx) is retried once, then the batch is dropped and counted.
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/trace.h"

namespace triage::telemetry {

struct OtlpOptions {
  std::string endpoint = "http://127.0.0.1:4318/v1/traces";  // POSTed to as is
  std::string service_name = "triage";
  std::string service_version;  // resource attribute service.version when non-empty
  int64_t batch_size = 256;
  int64_t flush_interval_ms = 1000;
  int64_t queue_capacity = 10000;
  int64_t timeout_ms = 10000;                  // per POST attempt
  std::map<std::string, std::string> headers;  // already resolved (no "${VAR}" left)

  // From the config block; header values "${NAME}" are looked up with `getenv` (nullptr or
  // unset -> std::runtime_error naming the header and the variable).
  static OtlpOptions from_config(const config::OtelConfig& cfg,
                                 const std::function<const char*(const char*)>& getenv);
};

// The OTLP JSON (ExportTraceServiceRequest) for a batch of traces. Pure; exposed for tests.
std::string otlp_json(const std::vector<core::TracePtr>& traces, const OtlpOptions& options);

// Ids as sent (lower-case hex): 32 digits for the trace, 16 for spans. `index` -1 is the root.
std::string otlp_trace_id(std::string_view request_id);
std::string otlp_span_id(std::string_view request_id, int index);

class OtlpExporter final : public core::TraceSink {
 public:
  // Starts the worker thread. `registry` (may be null) receives triage_otlp_dropped_total
  // {reason=queue_full|export_failed|closed} and triage_otlp_exported_total (traces); it must
  // outlive this object. Throws std::runtime_error when the endpoint is not a usable URL.
  explicit OtlpExporter(OtlpOptions options, prometheus::Registry* registry = nullptr);
  ~OtlpExporter() override;  // close()
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void consume(const core::TracePtr& trace) override;

  // Sends everything queued (the worker stops retrying and drops what is left once a POST
  // fails during close), then stops the worker. Idempotent; later consume() calls drop and
  // count (reason "closed").
  void close();
  // Waits until every trace queued before the call was sent or dropped; false on timeout.
  bool flush(int64_t timeout_ms);

  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  int64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  int64_t posts() const { return posts_.load(std::memory_order_relaxed); }  // incl. retries

 private:
  struct Http;  // the worker's io_context + HttpClient (keeps Asio out of this header)

  void worker_loop();
  bool send(const std::vector<core::TracePtr>& batch);  // worker thread; true when accepted
  void count_drop(int64_t n, prometheus::Counter* counter);

  const OtlpOptions options_;
  std::unique_ptr<Http> http_;  // worker thread only, after construction

  prometheus::Counter* dropped_queue_full_ = nullptr;
  prometheus::Counter* dropped_export_failed_ = nullptr;
  prometheus::Counter* dropped_closed_ = nullptr;
  prometheus::Counter* exported_counter_ = nullptr;
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> exported_{0};
  std::atomic<int64_t> posts_{0};

  std::mutex mu_;
  std::condition_variable cv_;           // worker: work or close; flushers: progress
  std::vector<core::TracePtr> pending_;  // guarded by mu_
  uint64_t enqueued_seq_ = 0;            // guarded by mu_: traces ever accepted
  uint64_t done_seq_ = 0;                // guarded by mu_: traces sent or dropped by the worker
  int flush_waiters_ = 0;                // guarded by mu_: worker sends partial batches at once
  bool closing_ = false;                 // guarded by mu_
  std::thread worker_;
};

}  // namespace triage::telemetry
