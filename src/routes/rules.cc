#include "routes/rules.h"

#include <cctype>

#include "config/yaml_util.h"
#include "core/tokens.h"
#include "routes/kind_util.h"

namespace triage::routes {

namespace {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// `needle` (lower-case) occurs in `hay` (lower-case) with word boundaries on both sides.
bool contains_word(const std::string& hay, const std::string& needle) {
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
    const bool left = at == 0 || !is_word_char(hay[at - 1]);
    const size_t end = at + needle.size();
    const bool right = end >= hay.size() || !is_word_char(hay[end]);
    if (left && right) return true;
  }
  return false;
}

bool any_equal(const std::vector<std::string>& allowed, const std::string& v) {
  if (allowed.empty()) return true;
  for (const auto& a : allowed) {
    if (a == v) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "|") + s;
  return out;
}

}  // namespace

int RulesRoute::decide(const core::ChatRequest& req) const {
  int64_t tokens = -1;  // computed on first use
  std::string lowered;
  bool have_lowered = false;
  const std::string& text = req.last_user_text();
  for (size_t i = 0; i < rules_.size(); ++i) {
    const RuleCondition& c = rules_[i].when;
    if (c.min_tokens || c.max_tokens) {
      if (tokens < 0) {
        tokens = 0;
        for (const auto& m : req.messages) tokens += core::estimate_tokens(m.text);
      }
      if (c.min_tokens && tokens < *c.min_tokens) continue;
      if (c.max_tokens && tokens > *c.max_tokens) continue;
    }
    if (!any_equal(c.category, req.meta.category) || !any_equal(c.cohort, req.meta.cohort) ||
        !any_equal(c.api_key_id, req.meta.api_key_id) || !any_equal(c.user, req.meta.user)) {
      continue;
    }
    if (c.regex && !RE2::PartialMatch(text, *c.regex)) continue;
    if (!c.keywords.empty()) {
      if (!have_lowered) {
        lowered = lower(text);
        have_lowered = true;
      }
      bool hit = false;
      for (const auto& k : c.keywords) {
        if (contains_word(lowered, k)) {
          hit = true;
          break;
        }
      }
      if (!hit) continue;
    }
    return static_cast<int>(i);
  }
  return -1;
}

boost::asio::awaitable<Result<core::Completion>> RulesRoute::run(const core::ChatRequest& req,
                                                                 ExecContext& ctx,
                                                                 core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  const int decision = decide(req);
  Route& next = target(decision);
  const int64_t took = micros_between(t0, SteadyClock::now());

  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name_;
  span.detail = std::string(kind()) + ": ";
  if (decision < 0) {
    span.detail += "default";
  } else {
    const Rule& r = rules_[static_cast<size_t>(decision)];
    span.detail += "rule '" + r.name + "' (" + r.describe + ")";
  }
  span.detail += " -> " + next.name();
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = took;
  ctx.trace.spans.push_back(std::move(span));
  ctx.trace.routing_us += took;
  co_return co_await next.run(req, ctx, sink);
}

std::unique_ptr<Route> build_rules_route(const config::RouteSpec& spec, size_t,
                                         RouteTable& table) {
  config::MapReader r(spec.node, spec.path, table.config().path, spec.line);
  r.only({"name", "type", "rules", "default"});
  std::vector<Rule> rules;
  const auto items = r["rules"].items();
  for (size_t i = 0; i < items.size(); ++i) {
    config::MapReader rr = items[i].map();
    rr.only({"name", "when", "route"});
    Rule rule;
    rule.name = rr["name"].get<std::string>("rules[" + std::to_string(i) + "]");
    config::MapReader w = rr["when"].map();
    w.only({"min_tokens", "max_tokens", "regex", "keywords", "category", "cohort", "api_key_id",
            "user"});
    RuleCondition& c = rule.when;
    std::vector<std::string> parts;
    c.min_tokens = w["min_tokens"].maybe<int64_t>(config::Range::at_least(0));
    c.max_tokens = w["max_tokens"].maybe<int64_t>(config::Range::at_least(0));
    if (c.min_tokens) parts.push_back("min_tokens " + std::to_string(*c.min_tokens));
    if (c.max_tokens) parts.push_back("max_tokens " + std::to_string(*c.max_tokens));
    if (c.min_tokens && c.max_tokens && *c.max_tokens < *c.min_tokens) {
      w["max_tokens"].fail("must be >= min_tokens (" + std::to_string(*c.min_tokens) + ")");
    }
    if (w["regex"].present()) {
      c.regex_text = w["regex"].as<std::string>();
      c.regex = compile_regex(w["regex"], c.regex_text);
      parts.push_back("regex " + c.regex_text);
    }
    for (const auto& k : string_or_list(w["keywords"])) {
      if (k.empty()) w["keywords"].fail("keywords must not be empty strings");
      c.keywords.push_back(lower(k));
    }
    if (!c.keywords.empty()) parts.push_back("keywords " + join(c.keywords));
    c.category = string_or_list(w["category"]);
    c.cohort = string_or_list(w["cohort"]);
    c.api_key_id = string_or_list(w["api_key_id"]);
    c.user = string_or_list(w["user"]);
    if (!c.category.empty()) parts.push_back("category " + join(c.category));
    if (!c.cohort.empty()) parts.push_back("cohort " + join(c.cohort));
    if (!c.api_key_id.empty()) parts.push_back("api_key_id " + join(c.api_key_id));
    if (!c.user.empty()) parts.push_back("user " + join(c.user));
    if (parts.empty()) {
      rr["when"].fail("a rule needs at least one condition (min_tokens, max_tokens, regex, "
                      "keywords, category, cohort, api_key_id, user); use `default:` for the "
                      "catch-all");
    }
    for (const auto& p : parts) rule.describe += (rule.describe.empty() ? "" : ", ") + p;
    rule.target = &resolve_child(table, rr["route"]);
    rules.push_back(std::move(rule));
  }
  if (rules.empty()) r["rules"].fail("a rules route needs at least one rule");
  Route& def = resolve_child(table, r["default"]);
  return std::make_unique<RulesRoute>(spec.name, std::move(rules), def);
}

void register_rules_kind() { RouteTable::register_kind("rules", build_rules_route); }

}  // namespace triage::routes
