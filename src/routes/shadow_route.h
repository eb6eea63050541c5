#pragma once
// The `shadow` route kind: the primary answers the client; a sample of requests is also sent
// to candidate routes OFF the hot path, and each candidate's run is logged as its own trace,
// with whether it agrees with the primary. Used to try a new model or router on live traffic
// without serving it, and (decide_only) to collect a router's decisions for `triage analyze`.
//
//   - name: chat
//     type: shadow
//     primary: gpt4                 # answers the client, streaming as usual
//     candidates: [mixtral, router] # routes or models
//     sample: 0.1                   # 0..1 (default 1): share of requests shadowed
//     decide_only: false            # true: only ask the candidates what they would choose
//
// Sampling is deterministic: a request is sampled when unit_interval(mixed_fnv1a("<route
// name>\0<request id>")) < sample (split_route.h), so `triage eval` replays the same sample.
//
// decide_only: false. After the primary returned successfully, a sampled request's candidates
// run one after the other in a coroutine co_spawn()ed DETACHED on the request's executor; the
// route returns the primary's result at once (the gateway then answers the client; the
// shadow work first yields with a post(), so not even its synchronous start delays that).
// Each candidate produces a derived trace handed to ExecContext::emit_derived:
//   request_id = parent id + "-s" + candidate index, route = this route's name,
//   requested_model = the candidate's name, flags ["shadow"], metadata copied from the parent,
//   spans: the candidate's own, then a kRoute span named after this route, detail
//   "agrees with primary" or "differs from primary" (see agrees()) and Span::agrees set,
//   split_choices: the parent's (the split children that served it, so far).
// The candidates get the same time budget as the parent request (deadline - start). Nothing
// is shadowed when the primary failed, or when emit_derived is empty (`triage eval`: the
// derived traces would be dropped, so the model calls would only cost money).
//
// decide_only: true. Every candidate must be a Decider (threshold, classify, rules, predict;
// refused at load otherwise). For a sampled request, each candidate's would-be choice is
// recorded as a kRoute span in the PRIMARY's trace, named after the candidate, detail
// "shadow decision: strong-model (strong, p=0.730, t=0.500)" for people and
// Span::shadow_decision "strong-model" for programs, before the primary runs. No model call,
// no derived trace, nothing detached.
//
// Lifetime: the detached coroutine owns copies of everything it uses (the request, the
// primary's answer, the emit_derived callback, the parent's metadata); it refers only to this
// route and the candidate routes, which the RouteTable owns and which outlive every request:
// the gateway drains (stops accepting, waits for its io_context to run out of work, which
// includes detached shadow work) before the route table is destroyed. If the io_context is
// stopped instead, pending shadow coroutines are destroyed without emitting.
//
// Threading: built once; run() is const in effect. Shadow work runs on the request's executor.
#include <functional>
#include <string>
#include <vector>

#include "routes/route.h"

namespace triage::routes {

// Agreement of two answers: equal after whitespace normalisation (trimmed, runs of whitespace
// collapsed to one space), or both have a final option letter / number (ensemble's
// extract_vote) and those are equal. Pure.
bool agrees(const std::string& a, const std::string& b);

class ShadowRoute final : public Route {
 public:
  ShadowRoute(std::string name, Route& primary, std::vector<Route*> candidates, double sample,
              bool decide_only);

  std::string_view kind() const override { return "shadow/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // Whether `req` is in the shadowed sample. Pure.
  bool sampled(const core::ChatRequest& req) const;

  Route& primary() const { return primary_; }
  const std::vector<Route*>& candidates() const { return candidates_; }
  double sample() const { return sample_; }
  bool decide_only() const { return decide_only_; }

 private:
  // Parent-trace fields a derived trace copies (taken while the parent is alive).
  struct Parent {
    std::string request_id;
    std::string api_key_id;
    std::string cohort;
    std::string category;
    std::string user;
    bool keep_payloads = false;
    std::string prompt_json;
    std::vector<core::SplitChoice> split_choices;
  };
  // The detached shadow work. Every argument is owned by the coroutine frame.
  boost::asio::awaitable<void> run_candidates(core::ChatRequest req, std::string primary_answer,
                                              Parent parent,
                                              std::function<void(core::Trace&&)> emit,
                                              SteadyClock::duration budget) const;

  std::string name_;
  Route& primary_;
  std::vector<Route*> candidates_;
  double sample_;
  bool decide_only_;
};

// Registers `type: shadow` with RouteTable (idempotent).
void register_shadow_kind();

}  // namespace triage::routes
