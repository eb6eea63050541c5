#pragma once
// `rules`: ordered rules over cheap request features; the first rule whose conditions all hold
// names the target, else `default`. The decision (decide()) is a pure function of the request,
// so `triage eval` replays it exactly.
//
//   - name: smart
//     type: rules
//     rules:
//       - name: long_prompts              # optional; default "rules[i]"
//         when: {min_tokens: 2000}
//         route: large
//       - when: {keywords: [refund, invoice], category: billing}
//         route: support
//     default: small
//
// Conditions in one `when` are ANDed; list values within one condition are ORed.
#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routes/decider.h"
#include "routes/route.h"
#include "routes/route_table.h"

namespace triage::routes {

struct RuleCondition {
  std::optional<int64_t> min_tokens;  // prompt tokens (core::estimate_tokens over all messages)
  std::optional<int64_t> max_tokens;
  std::string regex_text;             // RE2, unanchored, on the last user message
  std::unique_ptr<RE2> regex;
  // Whole words or phrases, case-insensitive, on the last user message; any one matches.
  // "refund" does not match "refunds": list the forms you mean, or use `regex`.
  std::vector<std::string> keywords;  // lower-cased
  // RequestMeta fields; a request matches when its value equals one of the listed values.
  std::vector<std::string> category;
  std::vector<std::string> cohort;
  std::vector<std::string> api_key_id;
  std::vector<std::string> user;
};

struct Rule {
  std::string name;
  RuleCondition when;
  Route* target = nullptr;  // owned by the RouteTable
  std::string describe;     // the conditions as declared, for the trace ("min_tokens>=2000")
};

class RulesRoute final : public Route, public Decider {
 public:
  RulesRoute(std::string name, std::vector<Rule> rules, Route& default_target)
      : name_(std::move(name)), rules_(std::move(rules)), default_(default_target) {}
  std::string_view kind() const override { return "rules/1"; }
  const std::string& name() const override { return name_; }

  // Index of the first matching rule, or -1 for the default. Pure, thread-safe.
  int decide(const core::ChatRequest& req) const;
  // Decider (defined in decider.cc): what run() would choose, without calling a model.
  RouteDecision decide_request(const core::ChatRequest& req) const override;
  const std::vector<Rule>& rules() const { return rules_; }
  Route& target(int decision) const {
    return decision < 0 ? default_ : *rules_[static_cast<size_t>(decision)].target;
  }

  // Decides, records a kRoute span (detail: which rule matched and the target) and the
  // decision time in trace.routing_us, then runs the target with the same sink.
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

 private:
  std::string name_;
  std::vector<Rule> rules_;
  Route& default_;
};

std::unique_ptr<Route> build_rules_route(const config::RouteSpec& spec, size_t index,
                                         RouteTable& table);
void register_rules_kind();

}  // namespace triage::routes
