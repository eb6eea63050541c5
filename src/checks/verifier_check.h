#pragma once
// `verifier`: asks a model whether the answer is correct and parses its verdict.
//
//   checks:
//     - type: verifier
//       route: large                # a catalog model or a route declared earlier
//       template: "Question: {question}\nAnswer: {answer}\nIs the answer correct? yes or no."
//       pass_on: yes                # the verdict that passes (default yes)
//
// The verdict is the first word of the verifier's reply (after leading punctuation/markdown and
// an optional "verdict:"/"answer:" prefix): yes/correct/true/right/valid mean yes,
// no/incorrect/false/wrong/invalid mean no. Anything else fails with "unparseable verdict" and
// score 0.5. Score is 1 for a passing verdict, 0 for a failing one.
//
// A failing verdict (including an unparseable one or a failed verifier call) adds the trace
// flag "verification_failed", which the review queue's rule of that name picks up. The
// verifier's model call appears in the trace as its own model-call span with its cost.
//
// Threading: built once; run() is const in effect and thread-safe.
#include <memory>
#include <optional>
#include <string_view>

#include "routes/check.h"
#include "routes/prompt_template.h"

namespace triage::checks {

inline constexpr std::string_view kDefaultVerifierTemplate =
    "You are checking another assistant's answer for correctness.\n\nQuestion:\n{question}\n\n"
    "Answer:\n{answer}\n\nIs the answer correct? Reply with one word: yes or no.";

// yes -> true, no -> false, nullopt when the reply has no recognisable verdict. Pure.
std::optional<bool> parse_verdict(std::string_view reply);

class VerifierCheck final : public routes::Check {
 public:
  VerifierCheck(routes::Route& route, routes::PromptTemplate prompt, bool pass_on_yes)
      : route_(route), prompt_(std::move(prompt)), pass_on_yes_(pass_on_yes) {}
  std::string_view name() const override { return "verifier/1"; }
  boost::asio::awaitable<routes::Verdict> run(const core::ChatRequest& req,
                                              const core::Completion& answer,
                                              routes::ExecContext& ctx) override;

 private:
  routes::Route& route_;  // owned by the RouteTable
  const routes::PromptTemplate prompt_;
  const bool pass_on_yes_;
};

// Factory for `type: verifier` (keys: route (required), template, pass_on).
std::unique_ptr<routes::Check> make_verifier_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks
