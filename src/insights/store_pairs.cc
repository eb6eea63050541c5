#include "insights/store_pairs.h"

#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>
#include <unordered_map>

#include "insights/export.h"
#include "telemetry/store_reader.h"
#include "telemetry/trace_json.h"

namespace triage::insights {

namespace {

namespace json = boost::json;

int tier_index(const std::vector<std::string>& tiers, const std::string& t) {
  auto it = std::find(tiers.begin(), tiers.end(), t);
  return it == tiers.end() ? -1 : static_cast<int>(it - tiers.begin());
}

// What a request's own evidence says, or the reason it says nothing.
struct Grades {
  int weak = 0, strong = 0;
  std::string rule;  // empty: skipped, `skip` says why
  std::string skip;
};

// Rule 2: evidence about the weak tier from a shadow run of the same prompt.
std::optional<std::pair<int, std::string>> weak_from_shadows(
    const PairEvidence& e, const std::vector<const ShadowRun*>& runs,
    const std::unordered_map<std::string, const PairEvidence*>& by_id, const PairRules& r,
    int weak_idx) {
  std::optional<std::pair<int, std::string>> agreed;
  for (const ShadowRun* run : runs) {
    const int t = tier_index(r.tiers, run->tier);
    if (t < 0 || t > weak_idx) continue;
    if (auto it = by_id.find(run->request_id); it != by_id.end()) {
      return std::pair{it->second->good ? 1 : 0, std::string("weak_shadow_labelled")};
    }
    if (run->agrees.value_or(false) && !agreed) {
      agreed = std::pair{e.good ? 1 : 0, std::string("weak_shadow_agreed")};
    }
  }
  return agreed;
}

Grades grades_of(const PairEvidence& e, const std::vector<const ShadowRun*>& runs,
                 const std::unordered_map<std::string, const PairEvidence*>& by_id,
                 const PairRules& r, int weak_idx, int strong_idx) {
  Grades g;
  if (!e.sufficient_tier.empty()) {  // rule 1
    const int t = tier_index(r.tiers, e.sufficient_tier);
    if (t < 0) {
      g.skip = "unknown_tier";
      return g;
    }
    g.weak = t <= weak_idx ? 1 : 0;
    g.strong = t <= strong_idx ? 1 : 0;
    g.rule = "sufficient_tier";
    return g;
  }
  const int a = tier_index(r.tiers, e.answered_tier);
  if (a < 0) {
    g.skip = "no_answer";
    return g;
  }
  if (a > weak_idx) {  // rule 2
    if (auto weak = weak_from_shadows(e, runs, by_id, r, weak_idx)) {
      if (a < strong_idx && !e.good) {
        g.skip = "strong_unknown";
        return g;
      }
      g.weak = weak->first;
      g.strong = a >= strong_idx ? (e.good ? 1 : 0) : 1;
      g.rule = weak->second;
      return g;
    }
  }
  // Rule 3: the export's rules.
  if (derive_pair_grades(-1, e.good ? "correct" : "incorrect", a, weak_idx, strong_idx, g.weak,
                         g.strong)) {
    g.rule = e.good ? "good_on_weak" : "bad_on_strong";
  } else {
    g.skip = a > weak_idx ? "weak_unknown" : "strong_unknown";
  }
  return g;
}

}  // namespace

PairBuild build_router_pairs(const std::vector<PairEvidence>& evidence,
                             const std::vector<ShadowRun>& shadows, const PairRules& r) {
  const int weak_idx = tier_index(r.tiers, r.weak_tier);
  const int strong_idx = tier_index(r.tiers, r.strong_tier);
  if (weak_idx < 0 || strong_idx < 0 || weak_idx >= strong_idx) {
    throw std::invalid_argument("the weak tier ('" + r.weak_tier + "') and the strong tier ('" +
                                r.strong_tier + "') must both be in the tier order, weak first");
  }
  std::unordered_map<std::string, const PairEvidence*> by_id;
  for (const PairEvidence& e : evidence) by_id[e.request_id] = &e;
  std::unordered_map<std::string, std::vector<const ShadowRun*>> runs_of;  // by parent id
  std::unordered_map<std::string, const ShadowRun*> run_by_id;
  for (const ShadowRun& s : shadows) {
    runs_of[s.parent_id].push_back(&s);
    run_by_id[s.request_id] = &s;
  }
  PairBuild out;
  static const std::vector<const ShadowRun*> kNoRuns;
  for (const PairEvidence& e : evidence) {
    std::string id = e.request_id;
    if (auto run = run_by_id.find(id); run != run_by_id.end()) {
      // Evidence on a shadow run: it informs its parent (rule 2), unless the parent has none.
      if (by_id.count(run->second->parent_id)) continue;
      id = run->second->parent_id;
    }
    ++out.evidence;
    if (!e.prompt) {
      ++out.skipped["no_payload"];
      continue;
    }
    auto runs = runs_of.find(id);
    const Grades g = grades_of(e, runs == runs_of.end() ? kNoRuns : runs->second, by_id, r,
                               weak_idx, strong_idx);
    if (g.rule.empty()) {
      ++out.skipped[g.skip];
      continue;
    }
    ++out.rules[g.rule];
    out.pairs.push_back({id, *e.prompt, e.category, g.weak, g.strong, g.rule});
  }
  return out;
}

namespace {

template <typename T>
T or_throw(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r.value());
}

bool has_shadow_flag(const std::string& flags_json) {
  return flags_json.find("\"shadow\"") != std::string::npos;
}

// The typed agreement of a derived trace (the route span the shadow adds last).
std::optional<bool> shadow_agreement(const std::string& spans_json) {
  boost::system::error_code ec;
  const json::value v = json::parse(spans_json, ec);
  if (ec || !v.is_array()) return std::nullopt;
  std::optional<bool> agrees;
  for (const json::value& s : v.as_array()) {
    if (!s.is_object()) continue;
    const json::value* a = s.as_object().if_contains(telemetry::kAgreesSpanKey);
    if (a && a->is_bool()) agrees = a->as_bool();
  }
  return agrees;
}

}  // namespace

PairBuild read_router_pairs(const StorePairsOptions& o) {
  auto opened = telemetry::open_store_reader(o.store_path);
  if (!opened) throw std::runtime_error(opened.error().message);
  telemetry::StoreReader& store = *opened.value();
  auto wanted = [&](const std::string& route, int64_t ts_ms) {
    return (o.route.empty() || route == o.route) && (!o.since_ms || ts_ms >= *o.since_ms);
  };
  std::vector<PairEvidence> evidence;
  for (telemetry::LabeledRequest& l : or_throw(store.latest_labels(""))) {
    if (!wanted(l.route, l.ts_ms)) continue;
    std::optional<std::string> prompt;
    if (l.messages_json) prompt = last_user_text(*l.messages_json);
    evidence.push_back({l.request_id, l.route, l.ts_ms, l.category, l.answered_tier,
                        std::move(prompt), l.verdict == "correct", l.sufficient_tier});
  }
  for (telemetry::FeedbackOnlyRequest& f : or_throw(store.latest_unlabeled_feedback(""))) {
    if (!wanted(f.route, f.ts_ms)) continue;
    std::optional<std::string> prompt;
    if (f.messages_json) prompt = last_user_text(*f.messages_json);
    evidence.push_back({f.request_id, f.route, f.ts_ms, f.category, f.answered_tier,
                        std::move(prompt), f.score >= 0.5, ""});
  }
  std::vector<ShadowRun> shadows;
  auto scanned = store.scan_requests([&](telemetry::StoredRequest&& r) -> Result<void> {
    if (!has_shadow_flag(r.flags_json)) return {};
    std::optional<std::string> parent = core::shadow_parent_id(r.request_id);
    if (!parent) return {};
    shadows.push_back({r.request_id, std::move(*parent), r.tier, shadow_agreement(r.spans_json)});
    return {};
  });
  if (!scanned) throw std::runtime_error(scanned.error().message);
  try {
    return build_router_pairs(evidence, shadows, o.rules);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
}

}  // namespace triage::insights
