#pragma once
// A catalog model at run time: its config, its provider client and its concurrency gate. Every
// model call in Triage goes through ModelRuntime::call(), which is where queueing, deadlines,
// cost and the model-call span are accounted — so routes never repeat that bookkeeping.
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "config/config.h"
#include "providers/provider.h"
#include "routes/concurrency_gate.h"
#include "routes/route.h"

namespace triage::routes {

class ModelRuntime {
 public:
  ModelRuntime(const config::Model& model, std::unique_ptr<providers::ModelClient> client);

  const config::Model& model() const { return model_; }
  providers::ModelClient& client() { return *client_; }
  const ConcurrencyGate& gate() const { return gate_; }

  // Calls the model (streaming to `sink` when given), appends a kModelCall span to ctx.trace
  // and adds its tokens, cost and timings to the trace totals. On success the trace's
  // model/tier/provider name this model. Never throws.
  boost::asio::awaitable<Result<core::Completion>> call(const core::ChatRequest& req,
                                                        ExecContext& ctx,
                                                        core::StreamSink* sink);

 private:
  const config::Model model_;
  std::unique_ptr<providers::ModelClient> client_;
  ConcurrencyGate gate_;
};

}  // namespace triage::routes
