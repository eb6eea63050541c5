#pragma once
// Test harness for route kinds: a route table built from YAML whose models are ScriptedClients
// (real ModelClient implementations answering a scripted text or error), a sink that records
// what a client would receive, and a runner for one request. Shared by unit_routes and
// unit_checks (cascade tests with real checks).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <optional>
#include <string>

#include "config/config.h"
#include "routes/builtin_kinds.h"
#include "routes/route_table.h"
#include "route_runner.h"

namespace triage::routes::testing {

namespace asio = boost::asio;

class ScriptedClient final : public providers::ModelClient {
 public:
  std::string answer = "an answer";
  std::optional<Error> fail;
  // Reported with `fail` as a real provider would (CallStats::failure): what retries and
  // circuit breakers act on. Unset: the failure says nothing about the upstream.
  std::optional<control::UpstreamFailure> failure;
  int fail_after_deltas = -1;  // streaming: fail after this many deltas were written (>= 0)
  int calls = 0;
  int stream_calls = 0;

  std::string_view name() const override { return "scripted/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest&, SteadyTime,
                                                     providers::CallStats& stats) override {
    ++calls;
    stats.failure = fail ? failure : std::nullopt;
    if (fail) co_return *fail;
    co_return completion();
  }
  // Streams the answer word by word.
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest&, SteadyTime,
                                                   providers::CallStats&,
                                                   core::StreamSink& sink) override {
    ++calls;
    ++stream_calls;
    if (fail && fail_after_deltas < 0) co_return *fail;
    int written = 0;
    size_t pos = 0;
    while (pos < answer.size()) {
      if (fail && written == fail_after_deltas) co_return *fail;
      size_t next = answer.find(' ', pos);
      next = next == std::string::npos ? answer.size() : next + 1;
      core::Delta d;
      if (written == 0) d.role = "assistant";
      d.content = std::string_view(answer).substr(pos, next - pos);
      if (!co_await sink.write(d)) co_return make_error(ErrorCode::kCancelled, "gone");
      ++written;
      pos = next;
    }
    if (fail) co_return *fail;
    co_return completion();
  }

 private:
  core::Completion completion() const {
    core::Completion c;
    c.content = answer;
    c.usage = {10, 5, 0, false};
    return c;
  }
};

// Models a, b, c... are declared by the caller's YAML with `provider: openai` and any endpoint;
// every one becomes a ScriptedClient reachable through fake(name).
class Harness {
 public:
  explicit Harness(const std::string& yaml) : cfg_(config::parse_config(yaml, "t.yaml")) {
    register_rules_fallback_cascade_kinds();
    reg_.add("openai", [this](const config::Config&, const config::Model& m,
                              const providers::EnvLookup&) {
      auto c = std::make_unique<ScriptedClient>();
      c->answer = "answer from " + m.name;
      fakes_[m.name] = c.get();
      return c;
    });
    table_ = RouteTable::build(cfg_, reg_, [](const char*) -> const char* { return nullptr; });
  }

  ScriptedClient& fake(const std::string& model) { return *fakes_.at(model); }
  RouteTable& table() { return *table_; }
  Route& route(const std::string& name) {
    Route* r = table_->find(name);
    if (!r) throw std::runtime_error("no route " + name);
    return *r;
  }

  Result<core::Completion> run(const std::string& route_name, const core::ChatRequest& req,
                               core::Trace& trace, core::StreamSink* sink = nullptr) {
    return run_once(route(route_name), req, trace, sink);
  }

 private:
  config::Config cfg_;
  providers::ProviderRegistry reg_;
  std::map<std::string, ScriptedClient*> fakes_;
  std::unique_ptr<RouteTable> table_;
};

// "t.yaml:LINE: PATH: ..." of the ConfigError that building `yaml` throws, or "no error".
inline std::string build_error(const std::string& yaml) {
  try {
    Harness h(yaml);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace triage::routes::testing
