#pragma once
// Test harness for the composite route kinds (ensemble, pipeline, retrieve): a route table
// whose models (provider openai or local) are FakeClients — real ModelClient implementations
// that answer through a per-model function of the prompt, suspend on the executor before
// answering (so concurrent callers really overlap), and log every call into state shared by
// all models (call order, prompts, the maximum number of calls in flight at once).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "routes/builtin_kinds.h"
#include "routes/ensemble.h"
#include "routes/pipeline.h"
#include "routes/retrieve.h"
#include "routes/route_table.h"
#include "route_runner.h"

namespace triage::routes::composite_testing {

namespace asio = boost::asio;
using testing::RecordingSink;
using testing::user_request;

struct CallLog {
  struct Call {
    std::string model;
    std::string prompt;  // last user text the model received
    bool streamed = false;
    bool logprobs = false;  // the request asked for token logprobs
  };
  std::vector<Call> calls;
  int in_flight = 0;
  int max_in_flight = 0;

  std::vector<std::string> models() const {
    std::vector<std::string> out;
    for (const auto& c : calls) out.push_back(c.model);
    return out;
  }
};

class FakeClient final : public providers::ModelClient {
 public:
  FakeClient(std::string model, CallLog& log) : model_(std::move(model)), log_(log) {}

  std::function<std::string(const std::string& prompt)> respond;  // default "answer from M"
  std::string label;  // Completion.label (a local classifier's prediction)
  double confidence = 0.0;
  std::optional<Error> fail;
  int yields = 3;  // times the call suspends (posts itself to the executor) before answering

  std::string_view name() const override { return "fake/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req, SteadyTime,
                                                     providers::CallStats&) override {
    co_return co_await answer(req, nullptr);
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime,
                                                   providers::CallStats&,
                                                   core::StreamSink& sink) override {
    co_return co_await answer(req, &sink);
  }

 private:
  asio::awaitable<Result<core::Completion>> answer(const core::ChatRequest& req,
                                                   core::StreamSink* sink) {
    const auto* lp = req.body.if_contains("logprobs");
    log_.calls.push_back({model_, req.last_user_text(), sink != nullptr,
                          lp && lp->is_bool() && lp->as_bool()});
    ++log_.in_flight;
    log_.max_in_flight = std::max(log_.max_in_flight, log_.in_flight);
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < yields; ++i) co_await asio::post(ex, asio::use_awaitable);
    --log_.in_flight;
    if (fail) co_return *fail;
    core::Completion c;
    c.content = respond ? respond(req.last_user_text()) : "answer from " + model_;
    c.label = label;
    c.confidence = confidence;
    c.usage = {10, 5, 0, false};
    if (sink) {
      size_t pos = 0;
      bool first = true;
      while (pos < c.content.size()) {
        size_t next = c.content.find(' ', pos);
        next = next == std::string::npos ? c.content.size() : next + 1;
        core::Delta d;
        if (first) d.role = "assistant";
        first = false;
        d.content = std::string_view(c.content).substr(pos, next - pos);
        if (!co_await sink->write(d)) co_return make_error(ErrorCode::kCancelled, "gone");
        pos = next;
      }
    }
    co_return c;
  }

  std::string model_;
  CallLog& log_;
};

inline void register_composite_test_kinds() {
  register_rules_fallback_cascade_kinds();
  register_ensemble_kind();
  register_pipeline_kind();
  register_retrieve_kind();
}

class CompositeHarness {
 public:
  // From YAML text (file name "t.yaml", relative paths resolve against `dir`).
  explicit CompositeHarness(const std::string& yaml, const std::string& dir = ".")
      : cfg_(parse(yaml, dir)) {
    build();
  }
  // From a config file on disk.
  static std::unique_ptr<CompositeHarness> from_file(const std::string& path) {
    return std::unique_ptr<CompositeHarness>(new CompositeHarness(config::load_config(path)));
  }

  FakeClient& fake(const std::string& model) { return *fakes_.at(model); }
  CallLog& log() { return log_; }
  RouteTable& table() { return *table_; }
  Route& route(const std::string& name) {
    Route* r = table_->find(name);
    if (!r) throw std::runtime_error("no route " + name);
    return *r;
  }

  Result<core::Completion> run(const std::string& route_name, const core::ChatRequest& req,
                               core::Trace& trace, core::StreamSink* sink = nullptr) {
    return testing::run_once(route(route_name), req, trace, sink);
  }

 private:
  explicit CompositeHarness(config::Config cfg) : cfg_(std::move(cfg)) { build(); }
  static config::Config parse(const std::string& yaml, const std::string& dir) {
    config::Config c = config::parse_config(yaml, "t.yaml");
    c.dir = dir;
    return c;
  }
  void build() {
    register_composite_test_kinds();
    auto factory = [this](const config::Config&, const config::Model& m,
                          const providers::EnvLookup&) {
      auto c = std::make_unique<FakeClient>(m.name, log_);
      fakes_[m.name] = c.get();
      return c;
    };
    reg_.add("openai", factory);
    reg_.add("local", factory);
    table_ = RouteTable::build(cfg_, reg_, [](const char*) -> const char* { return nullptr; });
  }

  config::Config cfg_;
  CallLog log_;
  providers::ProviderRegistry reg_;
  std::map<std::string, FakeClient*> fakes_;
  std::unique_ptr<RouteTable> table_;
};

// The ConfigError text that building `yaml` throws, or "no error".
inline std::string composite_build_error(const std::string& yaml, const std::string& dir = ".") {
  try {
    CompositeHarness h(yaml, dir);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

inline std::vector<const core::Span*> route_spans(const core::Trace& t) {
  std::vector<const core::Span*> out;
  for (const auto& s : t.spans) {
    if (s.kind == core::SpanKind::kRoute) out.push_back(&s);
  }
  return out;
}

}  // namespace triage::routes::composite_testing
