#include "eval/eval_engine.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>

#include "common/clock.h"
#include "core/tokens.h"
#include "engine/builtins.h"
#include "providers/replay.h"

namespace triage::eval {

namespace asio = boost::asio;

asio::awaitable<Result<core::Completion>> PlaceholderClient::complete(const core::ChatRequest& req,
                                                                      SteadyTime,
                                                                      providers::CallStats& stats) {
  stats = {};
  co_return make(req);
}

asio::awaitable<Result<core::Completion>> PlaceholderClient::stream(const core::ChatRequest& req,
                                                                    SteadyTime,
                                                                    providers::CallStats& stats,
                                                                    core::StreamSink& sink) {
  stats = {};
  core::Delta d;
  d.role = "assistant";
  d.content = text_;
  if (!co_await sink.write(d)) co_return make_error(ErrorCode::kCancelled, "client went away");
  co_return make(req);
}

core::Completion PlaceholderClient::make(const core::ChatRequest& req) const {
  core::Completion c;
  c.content = std::string(text_);
  c.synthesized = true;
  for (const auto& m : req.messages) c.usage.prompt_tokens += core::estimate_tokens(m.text);
  c.usage.completion_tokens = core::estimate_tokens(c.content);
  c.usage.estimated = true;
  return c;
}

EvalEngine::EvalEngine(const EvalOptions& o, const std::string& replay_dataset,
                       const AdjustProviders& adjust)
    : config_(engine::load_config(o.config_path)) {
  if (!replay_dataset.empty()) {
    const std::string dataset_abs = std::filesystem::absolute(replay_dataset).string();
    for (auto& m : config_.models) {
      if (m.provider == "replay") providers::set_replay_dataset(m, dataset_abs);
    }
  }
  providers::register_builtin_providers(registry_);
  if (adjust) adjust(config_, registry_);
  engine::register_route_kinds_and_checks();
  table_ =
      routes::RouteTable::build(config_, registry_, [](const char* n) { return std::getenv(n); });
  route_ = table_->find(o.route);
  if (!route_) {
    throw std::runtime_error(o.config_path + ": no route or model named '" + o.route + "'");
  }
}

ProgressBar::ProgressBar(bool enabled, int64_t total)
    : on_(enabled && ::isatty(2) == 1), total_(total) {}

void ProgressBar::tick() {
  if (!on_) return;
  ++done_;
  const int pct = static_cast<int>(100 * done_ / std::max<int64_t>(1, total_));
  if (pct == last_) return;
  last_ = pct;
  const int bar = pct * 40 / 100;
  std::fprintf(stderr, "\r[%.*s%*s] %3d%% (%lld/%lld)", bar,
               "========================================", 40 - bar, "", pct,
               static_cast<long long>(done_), static_cast<long long>(total_));
  if (done_ == total_) std::fputc('\n', stderr);
  std::fflush(stderr);
}

core::ChatRequest eval_request(const std::string& model, const std::string& prompt,
                               const std::string& category, std::size_t i) {
  core::ChatRequest req;
  req.model = model;
  core::Message m;
  m.role = "user";
  m.text = prompt;
  req.messages.push_back(std::move(m));
  req.meta.request_id = "eval_" + std::to_string(i);
  req.meta.category = category;
  return req;
}

void run_requests(routes::Route& route, std::size_t n,
                  const std::function<core::ChatRequest(std::size_t)>& request,
                  const std::function<void(std::size_t, const Result<core::Completion>&,
                                           const core::Trace&)>& done) {
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (std::size_t i = 0; i < n; ++i) {
          const core::ChatRequest req = request(i);
          core::Trace trace;
          const SteadyTime start = SteadyClock::now();
          routes::ExecContext ctx{trace, start, start + std::chrono::hours(1)};
          Result<core::Completion> r = co_await route.run(req, ctx, nullptr);
          done(i, r, trace);
        }
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace triage::eval
