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

namespace {

// Eval-only stand-in for a model that cannot or must not answer in an evaluation (no network,
// no response text): answers `text`, marked Completion.synthesized, with usage estimated from
// the prompt and `text`. `name` and `text` must outlive the client (string literals).
class PlaceholderClient final : public providers::ModelClient {
 public:
  PlaceholderClient(std::string_view name, std::string_view text) : name_(name), text_(text) {}
  std::string_view name() const override { return name_; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req, SteadyTime,
                                                     providers::CallStats& stats) override {
    stats = {};
    co_return make(req);
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime,
                                                   providers::CallStats& stats,
                                                   core::StreamSink& sink) override {
    stats = {};
    core::Delta d;
    d.role = "assistant";
    d.content = text_;
    if (!co_await sink.write(d)) co_return make_error(ErrorCode::kCancelled, "client went away");
    co_return make(req);
  }

 private:
  core::Completion make(const core::ChatRequest& req) const {
    core::Completion c;
    c.content = std::string(text_);
    c.synthesized = true;
    for (const auto& m : req.messages) c.usage.prompt_tokens += core::estimate_tokens(m.text);
    c.usage.completion_tokens = core::estimate_tokens(c.content);
    c.usage.estimated = true;
    return c;
  }

  std::string_view name_;
  std::string_view text_;
};

constexpr std::string_view kGradesPlaceholder =
    "[synthesized placeholder] the dataset holds no response text for this prompt; "
    "evaluation grades it from the recorded grade";

constexpr std::string_view kStubAnswer =
    "[eval placeholder] a non-local model would answer here; classifier eval scores the "
    "routing decision, not this text";

// The response column a replay model will use in `t`, as ReplayClient resolves it, or "".
std::string resolved_response_column(const CsvTable& t, const providers::ReplayOptions& r) {
  const std::string& c = r.response_column;
  if (t.column(c)) return c;
  if ((c == "weak" || c == "strong") && t.column(c + "_response")) return c + "_response";
  if (c.find('|') == std::string::npos && t.column(c + "|response")) return c + "|response";
  return "";
}

// CSV data: replay models whose response column `table` lacks answer a placeholder when their
// config allows it (synthesize_missing). `table` must outlive the table's build.
void synthesize_missing_answers(const CsvTable& table, providers::ProviderRegistry& registry) {
  const providers::ProviderFactory replay = *registry.find("replay");
  registry.add("replay", [replay, &table](const config::Config& c, const config::Model& m,
                                          const providers::EnvLookup& env)
                             -> std::unique_ptr<providers::ModelClient> {
    const providers::ReplayOptions r = providers::parse_replay_options(c, m);
    if (resolved_response_column(table, r).empty() && r.synthesize_missing) {
      return std::make_unique<PlaceholderClient>("replay-grades/1", kGradesPlaceholder);
    }
    return replay(c, m, env);
  });
}

// Intent lines: every non-local catalog model answers a placeholder (no network).
void stub_non_local_models(const config::Config& cfg, providers::ProviderRegistry& registry) {
  for (const auto& m : cfg.models) {
    if (m.provider == "local") continue;
    registry.add(m.provider, [](const config::Config&, const config::Model&,
                                const providers::EnvLookup&) -> std::unique_ptr<providers::ModelClient> {
      return std::make_unique<PlaceholderClient>("eval-stub/1", kStubAnswer);
    });
  }
}

}  // namespace

EvalEngine::EvalEngine(const EvalOptions& o, const datasets::EvalData& data)
    : config_(engine::load_config(o.config_path)) {
  const bool intents = data.format == datasets::DatasetFormat::kIntentLines;
  if (!intents) {
    const std::string dataset_abs = std::filesystem::absolute(data.path).string();
    for (auto& m : config_.models) {
      if (m.provider == "replay") providers::set_replay_dataset(m, dataset_abs);
    }
  }
  providers::register_builtin_providers(registry_);
  if (intents) {
    stub_non_local_models(config_, registry_);
  } else {
    synthesize_missing_answers(data.table, registry_);
  }
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
