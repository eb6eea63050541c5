#include "checks/verifier_check.h"

#include <cctype>
#include <string>

#include "checks/check_util.h"
#include "routes/composite_util.h"

namespace triage::checks {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_word_char(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// The next alphabetic word at or after `pos`, skipping anything else; advances `pos`.
std::string next_word(const std::string& s, size_t& pos) {
  while (pos < s.size() && !is_word_char(s[pos])) ++pos;
  const size_t b = pos;
  while (pos < s.size() && is_word_char(s[pos])) ++pos;
  return s.substr(b, pos - b);
}

}  // namespace

std::optional<bool> parse_verdict(std::string_view reply) {
  const std::string s = lower(reply);
  size_t pos = 0;
  std::string w = next_word(s, pos);
  if (w == "verdict" || w == "answer" || w == "final") {
    if (w == "final") {
      w = next_word(s, pos);
      if (w != "verdict" && w != "answer") return std::nullopt;
    }
    w = next_word(s, pos);
  }
  if (w == "yes" || w == "correct" || w == "true" || w == "right" || w == "valid") return true;
  if (w == "no" || w == "incorrect" || w == "false" || w == "wrong" || w == "invalid") {
    return false;
  }
  return std::nullopt;
}

boost::asio::awaitable<routes::Verdict> VerifierCheck::run(const core::ChatRequest& req,
                                                           const core::Completion& answer,
                                                           routes::ExecContext& ctx) {
  const std::string prompt = prompt_.render([&](const std::string& name) -> std::string {
    if (name == "question") return req.last_user_text();
    if (name == "answer") return answer.content;
    return {};
  });
  const core::ChatRequest sub = routes::sub_request(req, prompt);
  Result<core::Completion> r = co_await call_for_check(route_, sub, ctx);
  routes::Verdict v;
  if (!r) {
    v = {false, 0.5, "verifier call failed: " + std::string(error_code_name(r.error().code))};
  } else {
    const std::optional<bool> yes = parse_verdict(r->content);
    std::string first_line = r->content.substr(0, r->content.find('\n'));
    if (first_line.size() > 60) first_line = first_line.substr(0, 60) + "...";
    if (!yes) {
      v = {false, 0.5, "unparseable verdict: '" + first_line + "'"};
    } else {
      const bool pass = *yes == pass_on_yes_;
      v = {pass, pass ? 1.0 : 0.0,
           std::string("verifier said ") + (*yes ? "yes" : "no") + ": '" + first_line + "'"};
    }
  }
  if (!v.pass) core::add_flag_once(ctx.trace.flags, core::ReviewFlag::kVerificationFailed);
  co_return v;
}

std::unique_ptr<routes::Check> make_verifier_check(config::MapReader& cfg, const routes::CheckContext& ctx) {
  cfg.only({"type", "route", "template", "pass_on"});
  routes::Route& route = resolve_check_route(cfg["route"], ctx);
  routes::PromptTemplate prompt = routes::PromptTemplate::from_text(kDefaultVerifierTemplate);
  if (config::Field t = cfg["template"]; t.present()) {
    prompt = routes::PromptTemplate::parse(t, [](const std::string& name) -> std::string {
      if (name == "question" || name == "answer") return {};
      return "unknown placeholder {" + name + "} (known: {question}, {answer})";
    });
  }
  const std::string pass_on = cfg["pass_on"].one_of({"yes", "no"}, "yes");
  return std::make_unique<VerifierCheck>(route, std::move(prompt), pass_on == "yes");
}

}  // namespace triage::checks
