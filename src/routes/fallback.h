#pragma once
// `fallback`: children in order; on a retryable error the next child answers.
//
//   - name: reliable
//     type: fallback
//     children: [gpt-4o, claude-sonnet, local-llama]
//     on: [upstream_error, upstream_timeout, unavailable, rate_limited]   # the default
//
// Never falls back on invalid_request (the next child would refuse it too) or cancelled (the
// client is gone), nor when the request's deadline has passed. Streaming: a child that failed
// after it had streamed anything ends the request with its error (the client already holds
// part of its answer); before the first delta, falling back is invisible to the client.
// Every attempt stays in the trace (each model call appends its own span; one kRoute span
// summarizes the attempts).
#include <set>
#include <string>
#include <vector>

#include "routes/route.h"
#include "routes/route_table.h"

namespace triage::routes {

class FallbackRoute final : public Route {
 public:
  FallbackRoute(std::string name, std::vector<Route*> children, std::set<ErrorCode> on)
      : name_(std::move(name)), children_(std::move(children)), on_(std::move(on)) {}
  std::string_view kind() const override { return "fallback/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

 private:
  std::string name_;
  std::vector<Route*> children_;  // owned by the RouteTable
  std::set<ErrorCode> on_;        // error codes that move on to the next child
};

std::unique_ptr<Route> build_fallback_route(const config::RouteSpec& spec, size_t index,
                                            RouteTable& table);
void register_fallback_kind();

}  // namespace triage::routes
