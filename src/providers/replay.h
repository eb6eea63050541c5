#pragma once
// The `replay` provider: answers with a model's recorded response to the same prompt, taken
// from a dataset (RouteLLM or RouterBench CSV), after a modelled latency. For demos, offline
// evaluation and load tests: no network, deterministic answers.
//
// Built once per catalog model (the CSV is read and indexed in the factory); immutable after
// that, so complete()/stream() may run concurrently on any I/O thread. Waiting uses
// asio::steady_timer on the calling coroutine's executor: no thread ever blocks.
//
// Latency model (ReplayOptions): one factor f = 1 + jitter * U(-1, 1) per call;
// ttft = ttft_ms * f; generation = tokens / tokens_per_s * f (0 when tokens_per_s is 0);
// total = ttft + generation. complete() answers at `total` (CallStats.ttfb_us = total_us, as
// for a non-streaming HTTP body); stream() sends the first word group at ttft (ttfb_us) and
// the rest paced over the generation time. CallStats hold these MODELLED times.
// If total would pass `deadline`, the call waits until the deadline and fails with
// kUpstreamTimeout (a stream sends what was due before the deadline first).
//
// Lookup: req.last_user_text(), exactly, else after trimming and collapsing whitespace runs.
// When the same prompt appears twice in the dataset the first row wins.
// A row whose response cell is empty is MISSING (the recorded call failed or was not made),
// never an empty answer: like an unknown prompt it fails with kInvalidRequest, or, with
// synthesize_missing, gets a placeholder ("[synthesized placeholder] ..." of the median
// recorded length, Completion.synthesized = true) that evaluation must never grade.
// A recorded answer carries its recorded grade (score_column) in Completion.grade, which the
// model-call span stores ("grade" in the span JSON) for `triage report`; never a placeholder.
//
// Columns: format routerbench (auto-detected from "<model>|response" headers) accepts a bare
// model name as response_column ("gpt-4-1106-preview" -> "gpt-4-1106-preview|response", and
// score_column defaults to "gpt-4-1106-preview|score"); format routellm accepts "weak"/"strong"
// (-> "strong_response", score default "strong_correct"). Otherwise names are used verbatim.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "providers/provider.h"

namespace triage::providers {

// The model's `replay:` block (required). Latency model: ttft + tokens/tokens_per_s, times
// (1 +- jitter).
struct ReplayOptions {
  std::string dataset;          // CSV path, resolved against the config's directory
  std::string format = "auto";  // routellm | routerbench | auto (from the header)
  std::string response_column;  // e.g. "strong_response" or "gpt-4-1106-preview|response"
  std::string prompt_column = "prompt";
  std::string score_column;     // optional: grade of that response (0..1), recorded in the trace
  double ttft_ms = 0.0;
  double tokens_per_s = 0.0;    // 0: whole answer at once after ttft
  double jitter = 0.0;          // 0..1, uniform
  // When a prompt has no recording: false (default) answers 404-style error; true answers a
  // placeholder of typical length, marked synthesized and never graded.
  bool synthesize_missing = false;
};

// Reads the model's `replay:` block (its dataset path resolved against the config's directory;
// the file itself is opened by the client). Throws config::ConfigError at the field.
ReplayOptions parse_replay_options(const config::Config& cfg, const config::Model& model);

// Points a replay model at another dataset (`triage eval --dataset`): its options block is
// replaced by a copy with `dataset` set to `path` (kept as given: pass an absolute path). The
// other fields keep their positions for error messages; the original YAML is not modified.
void set_replay_dataset(config::Model& model, const std::string& path);

class ReplayClient final : public ModelClient {
 public:
  struct Record {
    std::optional<std::string> response;  // nullopt: missing in the dataset
    std::optional<double> score;          // from score_column, when set and present
    int64_t response_tokens = 0;          // core::estimate_tokens(response)
  };

  // Reads and indexes the dataset. Throws config::ConfigError naming the config file, the
  // model's line (the `dataset` field's, when the file is missing), the dataset and the column
  // (with the available columns) when unusable.
  ReplayClient(const config::Config& cfg, const config::Model& model, ReplayOptions options);

  std::string_view name() const override { return "replay/1"; }
  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime deadline,
                                                            CallStats& stats) override;
  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                          SteadyTime deadline,
                                                          CallStats& stats,
                                                          core::StreamSink& sink) override;

  // The recording for a prompt (same matching as a call), or nullptr.
  const Record* find(std::string_view prompt) const;
  // The recorded grade (0..1) of this model's response to `prompt`, when score_column is set
  // and the cell is present. For traces and evaluation; never sent to clients.
  std::optional<double> score_for(std::string_view prompt) const;

  std::size_t size() const { return records_.size(); }        // distinct prompts indexed
  std::size_t missing() const { return missing_; }            // of which without a response
  int64_t median_response_tokens() const { return median_tokens_; }
  const std::string& response_column() const { return response_column_; }
  const std::string& score_column() const { return score_column_; }

 private:
  struct Plan;  // one call's modelled schedule
  // The recorded answer (or the placeholder); `grade` = its recorded score, when any.
  Result<const std::string*> answer_for(const core::ChatRequest& req, bool& synthesized,
                                        std::optional<double>& grade) const;
  Plan plan(const std::string& content, SteadyTime start) const;
  core::Completion make_completion(const core::ChatRequest& req, const std::string& content,
                                   bool synthesized, std::optional<double> grade) const;

  std::string model_name_;
  std::string upstream_model_;
  std::string dataset_;
  ReplayOptions options_;
  std::string response_column_;
  std::string score_column_;
  std::vector<Record> records_;
  std::unordered_map<std::string, std::size_t> exact_;       // prompt -> records_ index
  std::unordered_map<std::string, std::size_t> normalized_;  // normalized prompt -> index
  std::size_t missing_ = 0;
  int64_t median_tokens_ = 0;
  std::string placeholder_;
};

// Trimmed, whitespace-collapsed form of a prompt (the second lookup key).
std::string replay_prompt_key(std::string_view prompt);

// Parses the model's options and builds its client.
std::unique_ptr<ModelClient> make_replay_client(const config::Config& cfg,
                                                const config::Model& model,
                                                const EnvLookup& env);

// Registered as "replay": refuses endpoint/api_key_env, needs `replay:`.
ProviderType replay_provider();

}  // namespace triage::providers
