#pragma once
// The `classify` route kind: a local classifier predicts a label (an intent, or a tier name)
// with a CALIBRATED confidence, and confidence bands decide what happens:
//
//   - name: support
//     type: classify
//     classifier: intent-small        # a catalog model with provider: local, or a model file
//     targets: {balance: intent-small, oos: large, small: cheap-route}   # label or tier -> route
//     default: medium                 # labels without a target
//     bands: {use: 0.95, flag: 0.80}  # the defaults; 0 <= flag <= use <= 1
//     tiers: [small, medium, large]   # escalation order, cheapest first; default: config tiers
//     escalate: large                 # optional: where every low-confidence request goes
//
//   confidence >= use          -> the predicted target
//   flag <= confidence < use   -> the predicted target, trace flag "flag_band" (review queue)
//   confidence < flag          -> ONE tier up: trace flag "escalated"
//
// One tier up from a target T: `escalate` when set; else the target declared for the next tier
// name in `tiers` above T's tier (targets may be keyed by tier name), else the cheapest catalog
// model of that tier (empty tiers are skipped). T's tier is its catalog model's tier, or its
// key when that key is a tier name; a target whose tier cannot be told that way (a route that
// is not a model, under a label key) needs `escalate`, else the config is refused. When T is
// already at the top tier (or is the `escalate` route itself) the request stays on T and gets
// the flag "low_confidence" instead. All of this is resolved at load.
//
// Load errors (config::ConfigError with FILE:LINE: PATH): bands out of order or outside 0..1,
// a classifier that is neither a local catalog model nor an existing fastText file, metadata
// whose labels differ from the model's, a target key that is neither a label of the model nor
// a tier name (with a did-you-mean), unknown target routes, duplicate or empty tiers.
//
// FAQ tier: when a target is the classifier's own catalog model (provider: local, answers
// templated per label), that model answers directly with its template.
//
// Confidence: the classifier's calibrated top-1 probability (ml/intent_confidence.h: with the
// neighbour-agreement maps when the model was trained with them), as the local provider
// reports it.
//
// The decision is pure ((last user text) -> label, calibrated confidence -> band -> route), so
// `triage eval` replays it exactly (decide()). A request without classifiable text gets
// confidence 0 on the default target, i.e. the escalate band.
//
// Threading: built once; run() and decide() are const reads, safe from any thread.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ml/fasttext_model.h"
#include "ml/intent_confidence.h"
#include "routes/bands.h"
#include "routes/decider.h"
#include "routes/route.h"

namespace triage::routes {

class ModelRuntime;

class ClassifyRoute final : public Route, public Decider {
 public:
  struct Target {
    Route* route = nullptr;
    Route* escalation = nullptr;  // nullptr: no tier above (stays, flagged low_confidence)
  };

  ClassifyRoute(std::string name, std::shared_ptr<const ml::FastTextModel> model,
                const ml::FastTextModel* borrowed_model, ml::IntentConfidence confidence,
                Bands bands, std::map<std::string, Target, std::less<>> targets, Target fallback);

  std::string_view kind() const override { return "classify/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // The pure decision for a text (what run() does before calling the chosen route).
  ClassifyDecision decide(std::string_view text) const;
  // The target of a predicted label (the default target for an unknown or empty label).
  const Target& target_of(const std::string& label) const;
  // Decider (defined in decider.cc): what run() would choose, without calling a model.
  RouteDecision decide_request(const core::ChatRequest& req) const override;
  const Bands& bands() const { return bands_; }
  const ml::IntentConfidence& confidence() const { return confidence_; }
  const ml::FastTextModel& model() const { return *model_ptr_; }
  // Evaluated by its bands on labeled intent data, from decide().
  EvalFamily eval_family() override;

 private:
  std::string name_;
  std::shared_ptr<const ml::FastTextModel> owned_model_;  // when loaded from a file
  const ml::FastTextModel* model_ptr_;  // owned_model_ or the local catalog model's
  ml::IntentConfidence confidence_;     // the classifier's calibrated confidence
  Bands bands_;
  std::map<std::string, Target, std::less<>> targets_;
  Target default_;
};

// Registers `type: classify` with RouteTable (idempotent).
void register_classify_kind();

}  // namespace triage::routes
