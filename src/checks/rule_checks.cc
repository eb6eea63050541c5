#include "checks/rule_checks.h"

#include <algorithm>
#include <cctype>

#include "core/tokens.h"
#include "ml/answer_scorer.h"
#include "routes/kind_util.h"

namespace triage::checks {

using routes::Verdict;

namespace {

constexpr size_t kQuoteMax = 60;  // longest excerpt quoted in a reason

Verdict pass(std::string reason) { return Verdict{true, 1.0, std::move(reason)}; }
Verdict fail(std::string reason) { return Verdict{false, 0.0, std::move(reason)}; }

std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, kQuoteMax));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > kQuoteMax) out += "...";
  return out;
}

// Lower-cases ASCII and folds the typographic apostrophe (U+2019) to "'".
std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 2 < s.size() && static_cast<unsigned char>(s[i]) == 0xE2 &&
        static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        static_cast<unsigned char>(s[i + 2]) == 0x99) {
      out += '\'';
      i += 2;
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  return out;
}

std::vector<Pattern> read_patterns(const config::Field& field) {
  std::vector<Pattern> out;
  if (!field.present()) return out;
  if (field.node().IsScalar()) {
    std::string p = field.as<std::string>();
    out.push_back({p, routes::compile_regex(field, p)});
    return out;
  }
  for (const config::Field& item : field.items()) {
    std::string p = item.as<std::string>();
    out.push_back({p, routes::compile_regex(item, p)});
  }
  return out;
}

}  // namespace

boost::asio::awaitable<Verdict> SyncCheck::run(const core::ChatRequest& req,
                                               const core::Completion& answer,
                                               routes::ExecContext&) {
  co_return evaluate(req, answer);
}

Verdict NonEmptyCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  const bool has_text = std::any_of(a.content.begin(), a.content.end(), [](char c) {
    return !std::isspace(static_cast<unsigned char>(c));
  });
  if (has_text) return pass("answer has text");
  if (!a.tool_calls.is_null()) return pass("answer has tool calls");
  return fail(a.content.empty() ? "answer is empty" : "answer is only whitespace");
}

Verdict LengthCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  const auto chars = static_cast<int64_t>(a.content.size());
  const int64_t tokens = (a.usage.completion_tokens > 0 && !a.usage.estimated)
                             ? a.usage.completion_tokens
                             : core::estimate_tokens(a.content);
  const std::string size = std::to_string(chars) + " chars, " + std::to_string(tokens) + " tokens";
  if (chars < o_.min_chars) return fail("too short: " + size + " < min_chars " + std::to_string(o_.min_chars));
  if (o_.max_chars > 0 && chars > o_.max_chars) {
    return fail("too long: " + size + " > max_chars " + std::to_string(o_.max_chars));
  }
  if (tokens < o_.min_tokens) {
    return fail("too short: " + size + " < min_tokens " + std::to_string(o_.min_tokens));
  }
  if (o_.max_tokens > 0 && tokens > o_.max_tokens) {
    return fail("too long: " + size + " > max_tokens " + std::to_string(o_.max_tokens));
  }
  return pass("length ok: " + size);
}

Verdict RegexCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  for (const auto& p : must_) {
    if (!RE2::PartialMatch(a.content, *p.re)) return fail("no match for must_match '" + p.text + "'");
  }
  for (const auto& p : must_not_) {
    re2::StringPiece input(a.content);
    re2::StringPiece m;
    if (p.re->Match(input, 0, input.size(), RE2::UNANCHORED, &m, 1)) {
      return fail("must_not_match '" + p.text + "' matched '" +
                  excerpt(std::string_view(m.data(), m.size())) + "'");
    }
  }
  return pass("all " + std::to_string(must_.size() + must_not_.size()) + " patterns ok");
}

const std::vector<std::string> kDefaultRefusalPhrases = {
    "i'm sorry, but",        "i am sorry, but",      "i apologize, but",
    "i cannot help",         "i can't help",         "i cannot assist",
    "i can't assist",        "i'm unable to",        "i am unable to",
    "i'm not able to",       "i am not able to",     "i cannot provide",
    "i can't provide",       "i cannot comply",      "i can't comply",
    "i cannot fulfill",      "i can't fulfill",      "i won't be able to",
    "i must decline",        "as an ai language model", "as an ai, i",
    "i cannot answer",       "i can't answer",
};

RefusalCheck::RefusalCheck(RefusalOptions o) : window_chars_(o.window_chars) {
  const auto& src = o.phrases.empty() ? kDefaultRefusalPhrases : o.phrases;
  for (const auto& p : src) phrases_.push_back(fold(p));
}

Verdict RefusalCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  std::string_view text = a.content;
  if (window_chars_ > 0 && text.size() > static_cast<size_t>(window_chars_)) {
    text = text.substr(0, static_cast<size_t>(window_chars_));
  }
  const std::string folded = fold(text);
  for (const auto& p : phrases_) {
    const size_t at = folded.find(p);
    if (at != std::string::npos) {
      return fail("refusal phrase '" + p + "' at char " + std::to_string(at));
    }
  }
  return pass("no refusal phrase");
}


Verdict FinalAnswerCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  re2::StringPiece input(a.content);
  const int groups = std::min(pattern_.re->NumberOfCapturingGroups(), 1);
  re2::StringPiece m[2];
  if (!pattern_.re->Match(input, 0, input.size(), RE2::UNANCHORED, m, groups + 1)) {
    return fail("no final answer matching '" + pattern_.text + "'");
  }
  const re2::StringPiece shown = (groups == 1 && m[1].data()) ? m[1] : m[0];
  return pass("final answer '" + excerpt(std::string_view(shown.data(), shown.size())) + "'");
}

std::unique_ptr<routes::Check> make_non_empty_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type"});
  return std::make_unique<NonEmptyCheck>();
}

std::unique_ptr<routes::Check> make_length_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "min_chars", "max_chars", "min_tokens", "max_tokens"});
  LengthOptions o;
  const auto nonneg = config::Range::at_least(0);
  o.min_chars = cfg["min_chars"].get<int64_t>(0, nonneg);
  o.max_chars = cfg["max_chars"].get<int64_t>(0, nonneg);
  o.min_tokens = cfg["min_tokens"].get<int64_t>(0, nonneg);
  o.max_tokens = cfg["max_tokens"].get<int64_t>(0, nonneg);
  if (o.max_chars > 0 && o.max_chars < o.min_chars) {
    cfg["max_chars"].fail("must be >= min_chars (" + std::to_string(o.min_chars) + ")");
  }
  if (o.max_tokens > 0 && o.max_tokens < o.min_tokens) {
    cfg["max_tokens"].fail("must be >= min_tokens (" + std::to_string(o.min_tokens) + ")");
  }
  if (o.min_chars == 0 && o.max_chars == 0 && o.min_tokens == 0 && o.max_tokens == 0) {
    cfg.fail("a length check needs at least one of min_chars, max_chars, min_tokens, max_tokens");
  }
  return std::make_unique<LengthCheck>(o);
}

std::unique_ptr<routes::Check> make_regex_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "must_match", "must_not_match"});
  auto must = read_patterns(cfg["must_match"]);
  auto must_not = read_patterns(cfg["must_not_match"]);
  if (must.empty() && must_not.empty()) {
    cfg.fail("a regex check needs must_match and/or must_not_match (a pattern or a list)");
  }
  return std::make_unique<RegexCheck>(std::move(must), std::move(must_not));
}

std::unique_ptr<routes::Check> make_refusal_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "phrases", "extra_phrases", "window_chars"});
  RefusalOptions o;
  o.phrases = cfg["phrases"].get<std::vector<std::string>>({});
  const auto extra = cfg["extra_phrases"].get<std::vector<std::string>>({});
  if (!extra.empty()) {
    if (o.phrases.empty()) o.phrases = kDefaultRefusalPhrases;
    o.phrases.insert(o.phrases.end(), extra.begin(), extra.end());
  }
  for (const auto& p : o.phrases) {
    if (p.empty()) cfg["phrases"].fail("phrases must not be empty strings");
  }
  o.window_chars = cfg["window_chars"].get<int64_t>(400, config::Range::at_least(0));
  return std::make_unique<RefusalCheck>(std::move(o));
}

std::unique_ptr<routes::Check> make_final_answer_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "pattern"});
  config::Field f = cfg["pattern"];
  std::string text = f.get<std::string>(ml::kFinalAnswerPattern);
  auto re = routes::compile_regex(f, text);
  return std::make_unique<FinalAnswerCheck>(Pattern{text, std::move(re)});
}

}  // namespace triage::checks
