#pragma once
// Rule checks: cheap, deterministic verdicts computed from the answer text alone (plus the
// request where noted). Each has a typed options struct (defaults on the fields), a versioned
// name and a factory registered in register_builtin_checks() (checks/builtin.h).
//
// All are immutable after construction and safe to share across threads.
#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "routes/check.h"

namespace triage::checks {

// Base for checks that need no I/O: run() is evaluate(), which tests may call directly.
class SyncCheck : public routes::Check {
 public:
  virtual routes::Verdict evaluate(const core::ChatRequest& req,
                                   const core::Completion& answer) const = 0;
  boost::asio::awaitable<routes::Verdict> run(const core::ChatRequest& req,
                                              const core::Completion& answer,
                                              routes::ExecContext& ctx) override;
};

// `non_empty`: the answer has a non-whitespace character or a tool call.
class NonEmptyCheck final : public SyncCheck {
 public:
  std::string_view name() const override { return "non_empty/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;
};

// `length`: bounds on the answer's size. Tokens are the upstream's completion_tokens when it
// reported them, else core::estimate_tokens(content). A bound of 0 is "no bound" for max_*.
struct LengthOptions {
  int64_t min_chars = 0;
  int64_t max_chars = 0;  // 0: unbounded
  int64_t min_tokens = 0;
  int64_t max_tokens = 0;  // 0: unbounded
};
class LengthCheck final : public SyncCheck {
 public:
  explicit LengthCheck(LengthOptions o) : o_(o) {}
  std::string_view name() const override { return "length/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;

 private:
  LengthOptions o_;
};

// `regex`: every must_match pattern matches somewhere in the answer and no must_not_match
// pattern does (RE2, unanchored).
struct Pattern {
  std::string text;
  std::unique_ptr<RE2> re;
};
class RegexCheck final : public SyncCheck {
 public:
  RegexCheck(std::vector<Pattern> must_match, std::vector<Pattern> must_not_match)
      : must_(std::move(must_match)), must_not_(std::move(must_not_match)) {}
  std::string_view name() const override { return "regex/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;

 private:
  std::vector<Pattern> must_;
  std::vector<Pattern> must_not_;
};

// `refusal`: fails when a refusal phrase appears (case-insensitive, curly apostrophes folded)
// within the first `window_chars` characters of the answer. Refusals open the answer; looking
// only there avoids flagging "I can't stress enough..." deep in a real answer.
struct RefusalOptions {
  std::vector<std::string> phrases;  // empty: kDefaultRefusalPhrases
  int64_t window_chars = 400;        // 0: the whole answer
};
extern const std::vector<std::string> kDefaultRefusalPhrases;
class RefusalCheck final : public SyncCheck {
 public:
  explicit RefusalCheck(RefusalOptions o);
  std::string_view name() const override { return "refusal/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;

 private:
  std::vector<std::string> phrases_;  // lower-cased, apostrophes folded
  int64_t window_chars_;
};

// `final_answer`: the answer states a final answer in the expected form. The default pattern
// (ml::kFinalAnswerPattern) accepts GSM8K's "#### 42", "The (final) answer is 42" and LaTeX "\boxed{42}"; capture group 1
// (when the pattern has one) is quoted in the reason.
class FinalAnswerCheck final : public SyncCheck {
 public:
  explicit FinalAnswerCheck(Pattern pattern) : pattern_(std::move(pattern)) {}
  std::string_view name() const override { return "final_answer/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;

 private:
  Pattern pattern_;
};

// Factories (parse typed config with MapReader; throw config::ConfigError at the field).
std::unique_ptr<routes::Check> make_non_empty_check(config::MapReader& cfg, const routes::CheckContext& ctx);
std::unique_ptr<routes::Check> make_length_check(config::MapReader& cfg, const routes::CheckContext& ctx);
std::unique_ptr<routes::Check> make_regex_check(config::MapReader& cfg, const routes::CheckContext& ctx);
std::unique_ptr<routes::Check> make_refusal_check(config::MapReader& cfg, const routes::CheckContext& ctx);
std::unique_ptr<routes::Check> make_final_answer_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks
