#pragma once
// `ensemble`: several children answer the same request concurrently, then one answer is made
// from theirs.
//
//   - name: maj3
//     type: ensemble
//     children: [mixtral, llama-70b, qwen-72b]
//     combine: vote                    # vote (default) | judge | fuse
//     extract: "ANSWER: ([A-D])"       # vote: RE2; group 1 (else the match) is the answer
//   - name: best-of-2
//     type: ensemble
//     children: [mixtral, llama-70b]
//     combine: judge
//     judge: gpt-4o                    # a route or model that picks the best candidate
//     prompt: "...{input}...{candidates}...1 to {n}..."   # optional; the default is below
//     choice_pattern: "(\\d+)"         # RE2 over the judge's output; first match, group 1
//   - name: merged
//     type: ensemble
//     children: [mixtral, llama-70b]
//     combine: fuse
//     fuser: gpt-4o                    # a route or model that merges the candidates
//     prompt: "..."                    # optional; placeholders {input} {candidates} {n}
//
// Combining (only children that answered take part; a failed child is listed in the span; when
// every child fails, the first child's error is returned):
//  - vote: each answer's extracted value (default: the last option letter in "answer is (B)" /
//    "Answer: C" / a bare "B", else the last number, with $ and thousands commas dropped and
//    trailing decimal zeros trimmed); the most frequent value wins, ties go to the value first
//    given in child order; the answer returned is that of the first child that voted for it.
//    No extractable value at all: the first answer, flag "ensemble_no_vote".
//  - judge: the judge gets the prompt with the numbered candidates; its choice 1..N is parsed
//    with choice_pattern. An unparsable or out-of-range choice, or a failed judge: the first
//    answer, flag "judge_unparsed" / "judge_failed".
//  - fuse: the fuser's answer (merging the candidates) is the answer. A failed fuser that has
//    streamed nothing: the first answer, flag "fuse_failed".
//
// Concurrency: the children are co_spawned on the request's own executor and joined with a
// parallel group, so they overlap while waiting on their upstreams. ExecContext and the Trace
// are NOT thread-safe; this is sound because every child runs on that same executor, which
// must be single-threaded (the gateway's per-thread io_context, eval's private io_context):
// spans and totals are appended between suspension points, never at the same time.
//
// Streaming: children never stream. vote/judge write the chosen answer as one delta; fuse
// streams the fuser's output as it is produced.
//
// Trace: every child's, judge's and fuser's model-call spans and costs; one kRoute span with
// the combination ("ensemble/1: vote '13' x2 (a, c), '12' x1 (b); 'a' answered"); the trace's
// model is the model whose answer was returned.
#include <re2/re2.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routes/prompt_template.h"
#include "routes/route.h"
#include "routes/route_table.h"

namespace triage::routes {

enum class Combine { kVote, kJudge, kFuse };

struct EnsembleOptions {
  std::vector<Route*> children;  // owned by the RouteTable
  Combine combine = Combine::kVote;
  std::unique_ptr<RE2> extract;         // vote: null -> default extraction
  Route* combiner = nullptr;            // judge / fuser
  PromptTemplate prompt;                // judge / fuse
  std::unique_ptr<RE2> choice_pattern;  // judge: null -> first whole number
};

// Vote value of `text`: see the header comment. nullopt when nothing is found. Pure.
std::optional<std::string> extract_vote(const std::string& text, const RE2* pattern);

// The winner of a vote over per-child values (nullopt = no vote): index of the first child
// that voted for the most frequent value (ties: the value first given); nullopt when nobody
// voted. `tally` receives "'13' x2 (a, c), '12' x1 (b)": values by count, then first
// appearance, with voters named by `names` (else by index). Pure.
std::optional<size_t> vote_winner(const std::vector<std::optional<std::string>>& votes,
                                  std::string* tally = nullptr,
                                  const std::vector<std::string>* names = nullptr);

// The judge's choice as a 0-based index into n candidates, or nullopt when the output has no
// match of `pattern` (null: first whole number) or the number is not in 1..n. Pure.
std::optional<size_t> parse_judge_choice(const std::string& output, size_t n, const RE2* pattern);

class EnsembleRoute final : public Route {
 public:
  EnsembleRoute(std::string name, EnsembleOptions opts, const RouteTable& table)
      : name_(std::move(name)), opts_(std::move(opts)), table_(table) {}
  std::string_view kind() const override { return "ensemble/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

 private:
  // Runs every child concurrently on the current executor; one result per child, in order.
  boost::asio::awaitable<std::vector<Result<core::Completion>>> run_children(
      const core::ChatRequest& req, ExecContext& ctx);
  std::string combiner_prompt(const core::ChatRequest& req,
                              const std::vector<const core::Completion*>& candidates) const;

  std::string name_;
  EnsembleOptions opts_;
  const RouteTable& table_;
};

std::unique_ptr<Route> build_ensemble_route(const config::RouteSpec& spec, size_t index,
                                            RouteTable& table);
void register_ensemble_kind();

}  // namespace triage::routes
