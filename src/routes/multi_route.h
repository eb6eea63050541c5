#pragma once
// The `predict` route kind (multi-model router, RouterBench style): a predictor estimates, for
// every candidate model, the probability that its answer to this request is correct; the route
// picks the CHEAPEST candidate whose predicted score clears the bar, or, when none does, the
// candidate with the highest predicted score.
//
//   - name: default
//     type: predict
//     predictor: models/arc_router.bin   # written by `triage train multi-router`; its metadata
//                                        # is predictor + ".json"
//     candidates: [mistralai/mixtral-8x7b-chat, gpt-4-1106-preview]   # catalog models, each
//                                        # one of the predictor's models (same name)
//     bar: 0.8                           # 0..1; the knob (set_bar)
//     expected_output_tokens: 256        # optional (default 256): the per-call cost estimate
//                                        # is the catalog price of the prompt's estimated
//                                        # tokens plus this many output tokens
//     cost_estimates: {gpt-4-1106-preview: 0.005}   # optional: USD per call, overrides the
//                                        # price-based estimate for the models listed
//
// Decision: a pure function of (last user text) -> predicted scores, plus per-candidate cost
// estimates -> candidate index (decide()), so `triage eval` replays it exactly.
//
// Predictor: one shared fastText model (P(a model answers correctly), pooled over the models:
// prompt difficulty) at `predictor`, plus one fastText model per candidate model next to it,
// combined per model by a logistic calibration fitted on held-out data:
//   P(model correct) = sigmoid(a * logit(p_own) + c * logit(p_shared) + b).
// A model trained without its own fastText file (too few labeled rows) has a = 0.
//
// Threading: built once; run(), options() and the predictor are const and thread-safe. The bar
// is a std::atomic<double> knob (routes::Knob "bar", range [0, 1], also set_bar()) that may be
// moved from any thread; each request reads it once.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ml/score_predictor.h"
#include "routes/decider.h"
#include "routes/knob.h"
#include "routes/route.h"

namespace triage::routes {

class ModelRuntime;

class PredictRoute final : public Route, public Tunable, public Decider {
 public:
  struct Candidate {
    std::string model;             // catalog model name
    Route* route = nullptr;        // the catalog model's route (calls it through ModelRuntime)
    const config::Model* config = nullptr;
    std::size_t predictor_index = 0;     // into ml::ScorePredictor::models()
    std::optional<double> cost_usd;      // configured per-call estimate, if any
  };
  // One candidate as the decision sees it.
  struct Option {
    double score = 0.0;     // predicted P(correct)
    double cost_usd = 0.0;  // estimated cost of the call
  };

  PredictRoute(std::string name, std::shared_ptr<const ml::ScorePredictor> predictor,
               std::vector<Candidate> candidates, double bar, int64_t expected_output_tokens);

  std::string_view kind() const override { return "predict/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // The pure decision: the index of the cheapest option with score >= bar (equal costs: the
  // higher score, then the earlier option); when none clears the bar, the highest score (equal
  // scores: the cheaper, then the earlier). `options` must not be empty.
  static std::size_t decide(const std::vector<Option>& options, double bar);
  // Predicted scores and estimated costs of the candidates for `req`, in candidates() order.
  std::vector<Option> options(const core::ChatRequest& req) const;
  // Decider (defined in decider.cc): what run() would choose, without calling a model.
  RouteDecision decide_request(const core::ChatRequest& req) const override;

  // The knob. Values outside 0..1 are allowed for sweeps (<= 0: always the cheapest candidate;
  // > 1: always the highest predicted score).
  double bar() const { return bar_.load(std::memory_order_relaxed); }
  void set_bar(double bar) { bar_.store(bar, std::memory_order_relaxed); }

  const std::vector<Candidate>& candidates() const { return candidates_; }
  const ml::ScorePredictor& predictor() const { return *predictor_; }

  // Tunable: one knob, "bar". At 0 every request goes to the cheapest candidate; at 1 (in
  // practice) to the highest predicted score. No request_score(): the decision compares
  // several scores with the bar, so a sweep searches the range.
  std::vector<Knob*> knobs() override { return {&bar_knob_}; }
  // Evaluated as a choice among its candidates, the bar as the knob.
  EvalFamily eval_family() override;

 private:
  class BarKnob final : public Knob {
   public:
    explicit BarKnob(PredictRoute& route) : route_(route) {}
    std::string_view name() const override { return "bar"; }
    double get() const override { return route_.bar(); }
    void set(double value) override { route_.set_bar(value); }
    std::pair<double, double> range() const override { return {0.0, 1.0}; }
    std::string_view model_path() const override { return route_.predictor().path(); }

   private:
    PredictRoute& route_;
  };

  std::string name_;
  std::shared_ptr<const ml::ScorePredictor> predictor_;
  std::vector<Candidate> candidates_;
  std::atomic<double> bar_;
  int64_t expected_output_tokens_;
  BarKnob bar_knob_{*this};
};

// Registers `type: predict` with RouteTable (idempotent).
void register_predict_kind();

}  // namespace triage::routes
