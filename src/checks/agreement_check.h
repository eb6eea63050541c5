#pragma once
// `agreement`: asks a second model (or the same model again) the same request and passes when
// both answers give the same extracted answer.
//
//   checks:
//     - type: agreement
//       route: medium        # a catalog model or a route declared earlier; absent: the model
//                            # that produced the answer is sampled again
//       extract: number      # number | option | text (default number)
//
// Extraction (routes/answer_extract.h, shared with the ensemble's vote): `number` takes the last
// number ("$1,234.50" -> "1234.5"); `option` the option letter A-E ("the answer is (C)");
// `text` the whole answer normalised (ml::normalize_text, trailing punctuation dropped).
// Score 1 when they agree, 0 otherwise (also when either answer has nothing to extract or the
// second call fails). The second call is traced as its own model-call span with its cost.
//
// Threading: built once; run() is thread-safe.
#include <memory>
#include <optional>
#include <string>

#include "routes/check.h"

namespace triage::routes {
class RouteTable;
}

namespace triage::checks {

enum class Extract { kNumber, kOption, kText };

// The extracted answer of `text`, nullopt when there is none. Pure.
std::optional<std::string> extract_answer(const std::string& text, Extract how);

class AgreementCheck final : public routes::Check {
 public:
  // `route` null: resample the model named by the answer (looked up in `table`).
  AgreementCheck(routes::Route* route, routes::RouteTable* table, Extract how)
      : route_(route), table_(table), extract_(how) {}
  std::string_view name() const override { return "agreement/1"; }
  boost::asio::awaitable<routes::Verdict> run(const core::ChatRequest& req,
                                              const core::Completion& answer,
                                              routes::ExecContext& ctx) override;

 private:
  routes::Route* route_;       // owned by the RouteTable
  routes::RouteTable* table_;  // outlives the check (it owns the route that owns the check)
  const Extract extract_;
};

// Factory for `type: agreement` (keys: route, extract).
std::unique_ptr<routes::Check> make_agreement_check(config::MapReader& cfg);

}  // namespace triage::checks
