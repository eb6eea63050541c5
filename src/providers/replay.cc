#include "providers/replay.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <random>

#include "common/csv.h"
#include "core/tokens.h"
#include "providers/provider_config.h"

namespace triage::providers {
namespace asio = boost::asio;

namespace {

constexpr std::string_view kPlaceholderPrefix = "[synthesized placeholder]";
constexpr int kWordsPerDelta = 3;

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::optional<double> parse_score(const std::string& cell) {
  std::string_view s = cell;
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  if (s == "True" || s == "true") return 1.0;
  if (s == "False" || s == "false") return 0.0;
  double v = 0.0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Waits until `t` on the current coroutine's executor. False when the wait was cancelled.
asio::awaitable<bool> wait_until(SteadyTime t) {
  if (t <= SteadyClock::now()) co_return true;
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

double jitter_factor(double jitter) {
  if (jitter <= 0.0) return 1.0;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  return 1.0 + jitter * u(rng);
}

// End offsets of the streamed word groups: each group is kWordsPerDelta words plus the
// whitespace that follows, so the groups concatenate to the exact text.
std::vector<std::size_t> group_ends(std::string_view text) {
  std::vector<std::size_t> ends;
  std::size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;  // leading space rides with group one
  while (i < text.size()) {
    for (int w = 0; w < kWordsPerDelta && i < text.size(); ++w) {
      while (i < text.size() && !is_space(text[i])) ++i;
      while (i < text.size() && is_space(text[i])) ++i;
    }
    ends.push_back(i);
  }
  if (ends.empty()) ends.push_back(text.size());  // empty or all-space text: one delta
  return ends;
}

}  // namespace

struct ReplayClient::Plan {
  SteadyTime start;
  int64_t ttft_us = 0;
  int64_t gen_us = 0;
  int64_t total_us() const { return ttft_us + gen_us; }
};

std::string replay_prompt_key(std::string_view prompt) {
  std::string out;
  out.reserve(prompt.size());
  bool space = false;
  for (char c : prompt) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

ReplayOptions parse_replay_options(const config::Config& cfg, const config::Model& model) {
  const config::Field block = options_field(cfg, model);
  if (!block.present())
    block.fail(
        "provider 'replay' needs a 'replay:' block with at least 'dataset' (a CSV) and "
        "'response_column'");
  config::MapReader r = block.map();
  r.only({"dataset", "format", "response_column", "prompt_column", "score_column", "ttft_ms",
          "tokens_per_s", "jitter", "synthesize_missing"});
  ReplayOptions o;
  o.dataset = cfg.resolve(r["dataset"].as<std::string>());
  o.format = r["format"].one_of({"auto", "routellm", "routerbench"}, o.format);
  o.response_column = r["response_column"].as<std::string>();
  o.prompt_column = r["prompt_column"].get<std::string>(o.prompt_column);
  if (o.prompt_column.empty()) r["prompt_column"].fail("must not be empty");
  o.score_column = r["score_column"].get<std::string>(o.score_column);
  o.ttft_ms = r["ttft_ms"].get<double>(o.ttft_ms, config::Range::at_least(0));
  o.tokens_per_s = r["tokens_per_s"].get<double>(o.tokens_per_s, config::Range::at_least(0));
  o.jitter = r["jitter"].get<double>(o.jitter, config::Range::between(0, 1));
  o.synthesize_missing = r["synthesize_missing"].get<bool>(o.synthesize_missing);
  return o;
}

void set_replay_dataset(config::Model& model, const std::string& path) {
  // A new mapping holding the same key nodes (their marks give the positions), so the
  // original tree, which copies of the Config share, is left as it was.
  YAML::Node copy(YAML::NodeType::Map);
  bool replaced = false;
  if (model.options.node.IsMap()) {
    for (auto it = model.options.node.begin(); it != model.options.node.end(); ++it) {
      const bool is_dataset = it->first.IsScalar() && it->first.Scalar() == "dataset";
      copy.force_insert(it->first, is_dataset ? YAML::Node(path) : it->second);
      replaced = replaced || is_dataset;
    }
  }
  if (!replaced) copy.force_insert(YAML::Node("dataset"), YAML::Node(path));
  model.options.node.reset(copy);  // rebinds; `=` would overwrite the shared node in place
}

ReplayClient::ReplayClient(const config::Config& cfg, const config::Model& model,
                           ReplayOptions options)
    : model_name_(model.name),
      upstream_model_(model.upstream_model.empty() ? model.name : model.upstream_model),
      options_(std::move(options)) {
  dataset_ = options_.dataset;
  const std::string where =
      cfg.path + ":" + std::to_string(model.line) + ": model '" + model.name + "' (replay): ";
  if (dataset_.empty()) throw config::ConfigError(where + "replay.dataset is not set");
  if (!std::filesystem::is_regular_file(dataset_)) {
    options_field(cfg, model).map()["dataset"].fail("dataset " + dataset_ + " of model '" +
                                                    model.name + "' does not exist");
  }
  CsvTable table;
  try {
    table = read_csv_file(dataset_);
  } catch (const CsvError& e) {
    throw config::ConfigError(where + "cannot read dataset: " + e.what());
  }

  std::string format = options_.format;
  if (format == "auto") {
    bool rb = std::any_of(table.header.begin(), table.header.end(), [](const std::string& h) {
      return h.size() > 9 && h.compare(h.size() - 9, 9, "|response") == 0;
    });
    bool rl = table.column("strong_response") || table.column("weak_response") ||
              table.column("strong_correct");
    format = rb ? "routerbench" : (rl ? "routellm" : "generic");
  }
  response_column_ = options_.response_column;
  score_column_ = options_.score_column;
  if (response_column_.empty()) throw config::ConfigError(where + "replay.response_column is not set");
  if (!table.column(response_column_)) {
    std::string stem = response_column_;
    std::string resp, score;
    if (format == "routerbench" && stem.find('|') == std::string::npos) {
      resp = stem + "|response";
      score = stem + "|score";
    } else if (format == "routellm" && (stem == "weak" || stem == "strong")) {
      resp = stem + "_response";
      score = stem + "_correct";
    }
    if (!resp.empty() && table.column(resp)) {
      response_column_ = resp;
      if (score_column_.empty() && table.column(score)) score_column_ = score;
    }
  }
  auto need = [&](const std::string& field, const std::string& col) {
    auto idx = table.column(col);
    if (!idx) {
      throw config::ConfigError(where + "dataset " + dataset_ + " has no column '" + col +
                                "' (replay." + field + "); available columns: " +
                                table.columns_list());
    }
    return *idx;
  };
  const std::size_t prompt_idx = need("prompt_column", options_.prompt_column);
  const std::size_t resp_idx = need("response_column", response_column_);
  std::optional<std::size_t> score_idx;
  if (!score_column_.empty()) score_idx = need("score_column", score_column_);

  std::vector<int64_t> lengths;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const CsvRow& row = table.rows[r];
    if (!row[prompt_idx]) continue;  // a row without a prompt cannot be asked for
    Record rec;
    if (row[resp_idx] && !row[resp_idx]->empty()) rec.response = *row[resp_idx];
    if (score_idx && row[*score_idx]) {
      rec.score = parse_score(*row[*score_idx]);
      if (!rec.score) {
        throw config::ConfigError(where + dataset_ + " data row " + std::to_string(r + 1) +
                                  ": column '" + score_column_ + "' is not a number: \"" +
                                  *row[*score_idx] + "\"");
      }
    }
    const std::string& prompt = *row[prompt_idx];
    auto [it, inserted] = exact_.emplace(prompt, records_.size());
    if (!inserted) continue;  // duplicate prompt: first row wins
    normalized_.emplace(replay_prompt_key(prompt), records_.size());
    if (rec.response) {
      rec.response_tokens = core::estimate_tokens(*rec.response);
      lengths.push_back(rec.response_tokens);
    } else {
      ++missing_;
    }
    records_.push_back(std::move(rec));
  }
  if (!lengths.empty()) {
    std::nth_element(lengths.begin(), lengths.begin() + lengths.size() / 2, lengths.end());
    median_tokens_ = lengths[lengths.size() / 2];
  }
  // The placeholder: the marker, then filler words up to the median recorded length.
  placeholder_ = std::string(kPlaceholderPrefix) + " no recorded response for this prompt.";
  while (core::estimate_tokens(placeholder_) < median_tokens_) placeholder_ += " lorem";
}

const ReplayClient::Record* ReplayClient::find(std::string_view prompt) const {
  auto it = exact_.find(std::string(prompt));
  if (it != exact_.end()) return &records_[it->second];
  auto jt = normalized_.find(replay_prompt_key(prompt));
  if (jt != normalized_.end()) return &records_[jt->second];
  return nullptr;
}

std::optional<double> ReplayClient::score_for(std::string_view prompt) const {
  const Record* r = find(prompt);
  return r ? r->score : std::nullopt;
}

Result<const std::string*> ReplayClient::answer_for(const core::ChatRequest& req,
                                                    bool& synthesized,
                                                    std::optional<double>& grade) const {
  synthesized = false;
  grade.reset();
  const Record* rec = find(req.last_user_text());
  if (rec && rec->response) {
    grade = rec->score;
    return &*rec->response;
  }
  if (options_.synthesize_missing) {
    synthesized = true;
    return &placeholder_;
  }
  if (rec) {
    // The dataset's path is the server's business: the log and the store get it, not the client.
    return make_error(ErrorCode::kInvalidRequest,
                      "model " + model_name_ + " (replay) has no recorded response for this "
                      "prompt (the recorded call failed or was not made)",
                      "replay: missing response cell: column '" + response_column_ + "' of " +
                          dataset_ + " is empty");
  }
  return make_error(ErrorCode::kInvalidRequest,
                    "model " + model_name_ + " (replay) has no recorded response for this "
                    "prompt; replay answers only the prompts it recorded (matched on the last "
                    "user message)",
                    "replay: prompt not in dataset " + dataset_);
}

ReplayClient::Plan ReplayClient::plan(const std::string& content, SteadyTime start) const {
  double f = jitter_factor(options_.jitter);
  Plan p;
  p.start = start;
  p.ttft_us = static_cast<int64_t>(options_.ttft_ms * 1000.0 * f);
  if (options_.tokens_per_s > 0.0) {
    double tokens = static_cast<double>(core::estimate_tokens(content));
    p.gen_us = static_cast<int64_t>(tokens / options_.tokens_per_s * 1e6 * f);
  }
  return p;
}

core::Completion ReplayClient::make_completion(const core::ChatRequest& req,
                                               const std::string& content, bool synthesized,
                                               std::optional<double> grade) const {
  core::Completion c;
  c.content = content;
  c.model = model_name_;
  c.upstream_model = upstream_model_;
  c.synthesized = synthesized;
  c.grade = grade;  // unset for a synthesized answer: placeholders are never graded
  for (const auto& m : req.messages) c.usage.prompt_tokens += core::estimate_tokens(m.text);
  c.usage.completion_tokens = core::estimate_tokens(content);
  c.usage.estimated = true;
  return c;
}

asio::awaitable<Result<core::Completion>> ReplayClient::complete(const core::ChatRequest& req,
                                                                 SteadyTime deadline,
                                                                 CallStats& stats) {
  const SteadyTime start = SteadyClock::now();
  bool synthesized = false;
  std::optional<double> grade;
  auto answer = answer_for(req, synthesized, grade);
  if (!answer) co_return std::move(answer).error();
  const std::string& content = **answer;
  Plan p = plan(content, start);
  const SteadyTime done = start + std::chrono::microseconds(p.total_us());
  if (done > deadline) {
    bool waited = co_await wait_until(deadline);
    stats.total_us = std::max<int64_t>(0, micros_between(start, deadline));
    if (!waited) co_return make_error(ErrorCode::kCancelled, "request cancelled");
    co_return make_error(ErrorCode::kUpstreamTimeout,
                         "model " + model_name_ + " did not answer before the deadline",
                         "replay: modelled latency " + std::to_string(p.total_us()) +
                             " us passes the deadline");
  }
  if (!co_await wait_until(done)) co_return make_error(ErrorCode::kCancelled, "request cancelled");
  stats.ttfb_us = p.total_us();
  stats.total_us = p.total_us();
  co_return make_completion(req, content, synthesized, grade);
}

asio::awaitable<Result<core::Completion>> ReplayClient::stream(const core::ChatRequest& req,
                                                               SteadyTime deadline,
                                                               CallStats& stats,
                                                               core::StreamSink& sink) {
  const SteadyTime start = SteadyClock::now();
  bool synthesized = false;
  std::optional<double> grade;
  auto answer = answer_for(req, synthesized, grade);
  if (!answer) co_return std::move(answer).error();
  const std::string& content = **answer;
  Plan p = plan(content, start);
  const std::vector<std::size_t> ends = group_ends(content);
  std::size_t begin = 0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    // The first group goes out at ttft (the first token); group i > 0 when its share (by
    // characters) of the generation time has passed; the last one at the modelled total.
    double share = (i == 0 || content.empty()) ? 0.0
                                               : static_cast<double>(ends[i]) /
                                                     static_cast<double>(content.size());
    int64_t due_us = p.ttft_us + static_cast<int64_t>(static_cast<double>(p.gen_us) * share);
    if (i + 1 == ends.size()) due_us = p.total_us();
    const SteadyTime due = start + std::chrono::microseconds(due_us);
    if (due > deadline) {
      bool waited = co_await wait_until(deadline);
      stats.total_us = std::max<int64_t>(0, micros_between(start, deadline));
      if (!waited) co_return make_error(ErrorCode::kCancelled, "request cancelled");
      co_return make_error(ErrorCode::kUpstreamTimeout,
                           "model " + model_name_ + " did not finish before the deadline",
                           "replay: stream passes the deadline after " + std::to_string(i) +
                               " deltas");
    }
    if (!co_await wait_until(due)) co_return make_error(ErrorCode::kCancelled, "request cancelled");
    core::Delta d;
    if (i == 0) d.role = "assistant";
    d.content = std::string_view(content).substr(begin, ends[i] - begin);
    if (i == 0) stats.ttfb_us = due_us;
    if (!co_await sink.write(d)) {
      stats.total_us = due_us;
      co_return make_error(ErrorCode::kCancelled, "client went away during the stream");
    }
    begin = ends[i];
  }
  stats.total_us = p.total_us();
  co_return make_completion(req, content, synthesized, grade);
}

std::unique_ptr<ModelClient> make_replay_client(const config::Config& cfg,
                                                const config::Model& model,
                                                const EnvLookup& /*env*/) {
  return std::make_unique<ReplayClient>(cfg, model, parse_replay_options(cfg, model));
}

ProviderType replay_provider() {
  return ProviderType{
      [](const config::Config& cfg, const config::Model& model) {
        refuse_endpoint_and_key(cfg, model);
        (void)parse_replay_options(cfg, model);
      },
      make_replay_client};
}

}  // namespace triage::providers
