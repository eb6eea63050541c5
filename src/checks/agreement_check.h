#pragma once
// `agreement`: asks a second model (or the same model again) the same request and passes when
// both answers give the same extracted answer; or asks several models, in order, and passes
// when at least `min_agree` of them give the answer being checked (FrugalGPT/AutoMix style
// self-consistency across cheap models).
//
//   checks:
//     - type: agreement
//       route: medium        # a catalog model or a route declared earlier; absent: the model
//                            # that produced the answer is sampled again
//       extract: number      # number | option | text (default number)
//     - type: agreement
//       routes: [a, b, c]    # several second opinions (instead of `route`), asked in order
//       min_agree: 2         # how many must agree with the answer; default: all of them
//       extract: option
//
// Second opinions are asked one after the other and the check stops as soon as its verdict is
// decided (min_agree reached, or no longer reachable with the opinions left), so an opinion that
// cannot change the verdict is never paid for: list the cheapest first.
//
// Knob `min_agree` (routes/knob.h, step 1, range [0, n + 1] for n second opinions): 0 passes
// every answer without asking anyone (the cascade always accepts); n + 1 fails every answer
// without asking anyone (always escalates). A fractional value k needs ceil(k) agreeing.
//
// Extraction (routes/answer_extract.h, shared with the ensemble's vote): `number` takes the last
// number ("$1,234.50" -> "1234.5"); `option` the option letter A-E ("the answer is (C)");
// `text` the whole answer normalised (ml::normalize_text, trailing punctuation dropped).
// Score: the share of the n second opinions that agreed (1 or 0 with one; an opinion not asked,
// failed or without an extractable answer counts as disagreeing); 0 when the answer has
// nothing to extract. Every call is traced as its own model-call span with its cost.
//
// Threading: built once; run() is thread-safe (the knob is atomic and read once per run).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checks/check_util.h"
#include "routes/check.h"

namespace triage::routes {
class RouteTable;
}

namespace triage::checks {

enum class Extract { kNumber, kOption, kText };

// The extracted answer of `text`, nullopt when there is none. Pure.
std::optional<std::string> extract_answer(const std::string& text, Extract how);

class AgreementCheck final : public routes::Check, public routes::Tunable {
 public:
  // `routes`: the second opinions, in order; empty: resample the model named by the answer
  // (looked up in `table`) once. `min_agree`: the knob's initial value (see the header comment).
  AgreementCheck(std::vector<routes::Route*> routes, routes::RouteTable* table, Extract how,
                 double min_agree);
  // One second opinion (`route` null: resample), min_agree 1.
  AgreementCheck(routes::Route* route, routes::RouteTable* table, Extract how);
  std::string_view name() const override { return "agreement/1"; }
  boost::asio::awaitable<routes::Verdict> run(const core::ChatRequest& req,
                                              const core::Completion& answer,
                                              routes::ExecContext& ctx) override;
  std::vector<routes::Knob*> knobs() override { return {&min_agree_}; }

 private:
  std::size_t opinions() const { return routes_.empty() ? 1 : routes_.size(); }

  std::vector<routes::Route*> routes_;  // owned by the RouteTable
  routes::RouteTable* table_;  // outlives the check (it owns the route that owns the check)
  const Extract extract_;
  ThresholdKnob min_agree_;
};

// Factory for `type: agreement` (keys: route | routes, min_agree, extract).
std::unique_ptr<routes::Check> make_agreement_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks
