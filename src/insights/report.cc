#include "insights/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "providers/replay.h"
#include "telemetry/counterfactual.h"
#include "telemetry/percentile.h"
#include "telemetry/store_reader.h"

namespace triage::insights {

namespace json = boost::json;

namespace {

// The store holds flags by their wire names (core/review_flag.h).
const std::string kFlagCascaded(core::flag_name(core::ReviewFlag::kCascaded));
const std::string kFlagEscalated(core::flag_name(core::ReviewFlag::kEscalated));
const std::string kFlagBand(core::flag_name(core::ReviewFlag::kFlagBand));
const std::string kFlagLowConfidence(core::flag_name(core::ReviewFlag::kLowConfidence));

Error bad(std::string msg) { return make_error(ErrorCode::kInvalidRequest, std::move(msg)); }

// The last user message of a stored `messages` array: a string content, or the text parts of
// an array content joined with "\n" (as core::Message::text).
std::optional<std::string> last_user_text(std::string_view messages_json) {
  boost::system::error_code ec;
  json::value v = json::parse(messages_json, ec);
  if (ec || !v.is_array()) return std::nullopt;
  const json::array& arr = v.as_array();
  for (auto it = arr.rbegin(); it != arr.rend(); ++it) {
    const json::object* m = it->if_object();
    if (!m) continue;
    const json::value* role = m->if_contains("role");
    if (!role || !role->is_string() || role->as_string() != "user") continue;
    const json::value* content = m->if_contains("content");
    if (!content) return std::string();
    if (content->is_string()) return std::string(content->as_string());
    std::string out;
    if (const json::array* parts = content->if_array()) {
      for (const json::value& p : *parts) {
        const json::object* po = p.if_object();
        const json::value* t = po ? po->if_contains("text") : nullptr;
        if (!t || !t->is_string()) continue;
        if (!out.empty()) out += '\n';
        out += t->as_string();
      }
    }
    return out;
  }
  return std::nullopt;
}

Result<std::vector<ReportCall>> parse_calls(std::string_view spans_json) {
  boost::system::error_code ec;
  json::value v = json::parse(spans_json, ec);
  if (ec || !v.is_array()) return bad("spans is not a JSON array");
  std::vector<ReportCall> calls;
  for (const json::value& sv : v.as_array()) {
    const json::object* o = sv.if_object();
    if (!o) return bad("a span is not a JSON object");
    const json::value* kind = o->if_contains("kind");
    if (!kind || !kind->is_string() || kind->as_string() != "model_call") continue;
    ReportCall c;
    auto str = [&](const char* k) {
      const json::value* x = o->if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    auto num = [&](const char* k) -> std::optional<double> {
      const json::value* x = o->if_contains(k);
      if (!x) return std::nullopt;
      if (x->is_int64()) return static_cast<double>(x->as_int64());
      if (x->is_uint64()) return static_cast<double>(x->as_uint64());
      if (x->is_double()) return x->as_double();
      return std::nullopt;
    };
    c.model = str("name");
    c.tier = str("tier");
    c.tokens_in = static_cast<int64_t>(num("tokens_in").value_or(0.0));
    c.tokens_out = static_cast<int64_t>(num("tokens_out").value_or(0.0));
    c.cost_usd = num("cost_usd").value_or(0.0);
    const json::value* ok = o->if_contains("ok");
    c.ok = !ok || !ok->is_bool() || ok->as_bool();
    c.grade = num("grade");
    calls.push_back(std::move(c));
  }
  return calls;
}

std::vector<std::string> parse_flags(std::string_view flags_json) {
  std::vector<std::string> flags;
  boost::system::error_code ec;
  json::value v = json::parse(flags_json, ec);
  if (ec || !v.is_array()) return flags;
  for (const json::value& f : v.as_array()) {
    if (f.is_string()) flags.emplace_back(f.as_string());
  }
  return flags;
}

// The one percentile (telemetry/percentile.h) of sorted microseconds, in milliseconds.
double percentile_ms(const std::vector<int64_t>& sorted_us, double p) {
  return telemetry::percentile(sorted_us, p) / 1000.0;
}

struct Acc {
  GroupStats s;
  std::vector<int64_t> total_us;
  void add(const ReportRow& r) {
    const bool ok = r.status < 400;
    s.requests++;
    s.errors += ok ? 0 : 1;
    s.tokens_in += r.tokens_in;
    s.tokens_out += r.tokens_out;
    s.cost_usd += r.cost_usd;
    if (ok) total_us.push_back(r.total_us);
  }
  GroupStats done() {
    std::sort(total_us.begin(), total_us.end());
    s.p50_ms = percentile_ms(total_us, 0.50);
    s.p95_ms = percentile_ms(total_us, 0.95);
    s.p99_ms = percentile_ms(total_us, 0.99);
    return s;
  }
};

std::vector<GroupStats> finish(std::map<std::string, Acc>& m) {
  std::vector<GroupStats> out;
  for (auto& [name, acc] : m) {
    acc.s.name = name;
    out.push_back(acc.done());
  }
  return out;
}

bool has_flag(const ReportRow& r, std::string_view f) {
  return std::find(r.flags.begin(), r.flags.end(), f) != r.flags.end();
}

double share(int64_t n, int64_t of) {
  return of ? 100.0 * static_cast<double>(n) / static_cast<double>(of) : 0.0;
}

}  // namespace

Result<std::vector<ReportRow>> read_report_rows(const std::string& store_path) {
  auto reader = telemetry::open_store_reader(store_path);
  if (!reader) return bad(reader.error().message);
  std::vector<ReportRow> rows;
  auto scanned = (*reader)->scan_requests([&](telemetry::StoredRequest&& s) -> Result<void> {
    ReportRow r;
    r.request_id = std::move(s.request_id);
    r.route = std::move(s.route);
    r.model = std::move(s.model);
    r.tier = std::move(s.tier);
    r.status = s.status;
    r.tokens_in = s.tokens_in;
    r.tokens_out = s.tokens_out;
    r.tokens_estimated = s.tokens_estimated;
    r.cost_usd = s.cost_usd;
    r.total_us = s.total_us;
    r.synthesized = s.synthesized;
    r.flags = parse_flags(s.flags_json);
    auto calls = parse_calls(s.spans_json);
    if (!calls) {
      return bad(fmt::format("{}: request {}: {}", telemetry::describe_store_location(store_path),
                             r.request_id, calls.error().message));
    }
    r.calls = std::move(calls.value());
    if (s.messages_json) r.prompt = last_user_text(*s.messages_json);
    rows.push_back(std::move(r));
    return {};
  });
  if (!scanned) return bad(scanned.error().message);
  return rows;
}

ReportSummary summarize(const std::vector<ReportRow>& rows, const config::Config* cfg,
                        const ReferenceLookup* reference) {
  ReportSummary out;
  Acc all;
  std::map<std::string, Acc> models, tiers, routes;
  const config::Model* ref =
      cfg && reference ? cfg->find_model(cfg->reference_model) : nullptr;
  if (ref) out.reference_model = ref->name;
  double quality = 0.0, cf_quality = 0.0;

  for (const ReportRow& r : rows) {
    const bool ok = r.status < 400;
    all.add(r);
    Acc& m = models[r.model.empty() ? "(none)" : r.model];
    m.add(r);
    m.s.tier = r.tier;
    tiers[r.tier.empty() ? "(none)" : r.tier].add(r);
    const std::string route = r.route.empty() ? "(direct)" : r.route;
    routes[route].add(r);
    if (ok) out.route_tiers[route][r.tier.empty() ? "(none)" : r.tier]++;
    for (const std::string& f : r.flags) out.flags[f]++;
    if (has_flag(r, kFlagCascaded) || has_flag(r, kFlagEscalated)) out.escalations++;
    if (has_flag(r, kFlagBand) || has_flag(r, kFlagLowConfidence)) out.review_flags++;
    if (r.synthesized) {
      out.synthesized++;
      out.synthesized_by_model[r.model]++;
    }
    if (r.tokens_estimated) out.tokens_estimated++;
    if (r.prompt) out.with_prompt++;

    if (!ref) continue;
    // The answer returned: the last successful call of the model that answered.
    const ReportCall* answer = nullptr;
    for (auto it = r.calls.rbegin(); it != r.calls.rend() && !answer; ++it) {
      if (it->ok && it->model == r.model) answer = &*it;
    }
    ReferenceRecord rec;
    if (r.prompt) rec = (*reference)(*r.prompt);
    const int64_t in = r.calls.empty() ? r.tokens_in : r.calls.front().tokens_in;
    int64_t out_tokens = answer ? answer->tokens_out : r.tokens_out;
    if (rec.response_tokens) {
      out_tokens = *rec.response_tokens;
      out.counterfactual_recorded_lengths++;
    }
    const double cf = telemetry::counterfactual_cost_usd(ref->prices, in, out_tokens);
    out.counterfactual_cost_usd += cf;
    out.counterfactual_by_route[route] += cf;

    if (!ok) {
      out.ungraded_errors++;
    } else if (r.synthesized) {
      out.ungraded_synthesized++;
    } else if (!answer || !answer->grade) {
      out.ungraded_no_grade++;
    } else if (!rec.grade) {
      out.ungraded_no_reference++;
    } else {
      out.paired++;
      quality += *answer->grade;
      cf_quality += *rec.grade;
    }
  }
  if (out.paired > 0) {
    out.quality = quality / static_cast<double>(out.paired);
    out.counterfactual_quality = cf_quality / static_cast<double>(out.paired);
  }
  all.s.name = "ALL";
  out.all = all.done();
  out.by_model = finish(models);
  out.by_tier = finish(tiers);
  out.by_route = finish(routes);
  if (cfg) {
    auto rank = [&](const std::string& t) {
      int i = cfg->tier_index(t);
      return i < 0 ? INT32_MAX : i;
    };
    std::stable_sort(out.by_tier.begin(), out.by_tier.end(),
                     [&](const GroupStats& a, const GroupStats& b) {
                       return rank(a.name) < rank(b.name);
                     });
  }
  for (GroupStats& t : out.by_tier) t.tier = t.name;
  return out;
}

std::optional<ReferenceLookup> reference_lookup(const config::Config& cfg) {
  const config::Model* ref = cfg.find_model(cfg.reference_model);
  if (!ref || ref->provider != "replay") return std::nullopt;
  auto client = std::make_shared<const providers::ReplayClient>(
      cfg, *ref, providers::parse_replay_options(cfg, *ref));
  return ReferenceLookup([client](std::string_view prompt) {
    ReferenceRecord rec;
    if (const auto* r = client->find(prompt)) {
      rec.grade = r->score;
      if (r->response) rec.response_tokens = r->response_tokens;
    }
    return rec;
  });
}

namespace {

void table(std::string& out, std::string_view title, const std::vector<GroupStats>& groups,
           const GroupStats& all) {
  out += fmt::format("{:<22} {:>6} {:>8} {:>6} {:>9} {:>10} {:>11} {:>12} {:>9} {:>9} {:>9}\n",
                     title, "tier", "requests", "share", "tokens_in", "tokens_out", "cost_usd",
                     "usd_per_req", "p50_ms", "p95_ms", "p99_ms");
  auto row = [&](const GroupStats& g) {
    out += fmt::format(
        "{:<22} {:>6} {:>8} {:>5.1f}% {:>9} {:>10} {:>11.6f} {:>12.8f} {:>9.1f} {:>9.1f} "
        "{:>9.1f}{}\n",
        g.name, g.tier, g.requests, share(g.requests, all.requests), g.tokens_in, g.tokens_out,
        g.cost_usd, g.cpi_usd(), g.p50_ms, g.p95_ms, g.p99_ms,
        g.errors ? fmt::format("  ({} errors)", g.errors) : std::string());
  };
  for (const GroupStats& g : groups) row(g);
  row(all);
  out += '\n';
}

std::string provenance(const config::Config& cfg, const config::Model& m, const GroupStats& g,
                       const ReportSummary& s) {
  if (m.provider == "replay") {
    const providers::ReplayOptions r = providers::parse_replay_options(cfg, m);
    std::string line = fmt::format(
        "answers RECORDED ({}{}{}); latency SIMULATED (ttft {} ms, {} tokens/s, jitter {:.0f}%)",
        std::filesystem::path(r.dataset).filename().string(),
        r.response_column.empty() ? "" : ", column " + r.response_column,
        r.score_column.empty() ? ", no grades" : ", grades from " + r.score_column, r.ttft_ms,
        r.tokens_per_s, r.jitter * 100.0);
    if (r.synthesize_missing) {
      auto it = s.synthesized_by_model.find(m.name);
      line += fmt::format(
          "; prompts without a recording get a SYNTHESIZED placeholder of typical length "
          "({} of its {} answers here; marked synthesized, never graded)",
          it == s.synthesized_by_model.end() ? 0 : it->second, g.requests);
    }
    return line;
  }
  if (m.provider == "local") {
    return "runs in-process: real answers (classifier + templates), real latency";
  }
  return fmt::format("live upstream {} ({}): real answers and latency", m.endpoint, m.provider);
}

}  // namespace

std::string report_text(const ReportSummary& s, const std::string& store_path,
                        const config::Config* cfg) {
  std::string out = fmt::format("Request store {}: {} requests, {} errors\n\n", store_path,
                                s.all.requests, s.all.errors);
  table(out, "model", s.by_model, s.all);
  table(out, "tier", s.by_tier, s.all);
  table(out, "route", s.by_route, s.all);
  out += "Tier shares per route (successful requests, by the tier that answered):\n";
  for (const auto& [route, by_tier] : s.route_tiers) {
    int64_t n = 0;
    for (const auto& [tier, k] : by_tier) n += k;
    std::string parts;
    for (const auto& [tier, k] : by_tier) {
      parts += fmt::format("{}{} {} ({:.1f}%)", parts.empty() ? "" : ", ", tier, k, share(k, n));
    }
    out += fmt::format("  {:<20} {}\n", route, parts);
  }
  out += fmt::format(
      "\nEscalations: {} (cascade escalated to a later step: {}; classifier escalated one tier: "
      "{})\nReview flags: {} (flag_band: {}; low_confidence: {})\n",
      s.escalations, s.flags.count(kFlagCascaded) ? s.flags.at(kFlagCascaded) : 0,
      s.flags.count(kFlagEscalated) ? s.flags.at(kFlagEscalated) : 0, s.review_flags,
      s.flags.count(kFlagBand) ? s.flags.at(kFlagBand) : 0,
      s.flags.count(kFlagLowConfidence) ? s.flags.at(kFlagLowConfidence) : 0);
  if (!s.flags.empty()) {
    std::string all_flags;
    for (const auto& [f, n] : s.flags) {
      all_flags += fmt::format("{}{} {}", all_flags.empty() ? "" : ", ", f, n);
    }
    out += "All trace flags: " + all_flags + "\n";
  }

  if (!s.reference_model.empty()) {
    const double cpi = s.all.cpi_usd();
    const double cf_cpi = s.counterfactual_cpi_usd();
    out += fmt::format(
        "\nCounterfactual: every request on the reference model {}\n"
        "  cost   routed ${:.6f}  vs  all-{} ${:.6f}   (saving {:.1f}%)\n"
        "  CPI    routed ${:.8f}  vs  all-{} ${:.8f}   ({:.1f}x cheaper per request)\n",
        s.reference_model, s.all.cost_usd, s.reference_model, s.counterfactual_cost_usd,
        s.counterfactual_cost_usd > 0 ? 100.0 * (1.0 - s.all.cost_usd / s.counterfactual_cost_usd)
                                      : 0.0,
        cpi, s.reference_model, cf_cpi, cpi > 0 ? cf_cpi / cpi : 0.0);
    for (const GroupStats& r : s.by_route) {
      auto it = s.counterfactual_by_route.find(r.name);
      if (it == s.counterfactual_by_route.end() || r.requests == 0) continue;
      const double cf_route = it->second / static_cast<double>(r.requests);
      out += fmt::format("  CPI {:<16} routed ${:.8f}  vs  all-{} ${:.8f}\n", r.name, r.cpi_usd(),
                         s.reference_model, cf_route);
    }
    out += fmt::format(
        "  (same prompt tokens at {}'s prices; output tokens = {}'s recorded answer length for {} "
        "requests, the returned answer's length for the other {}: a lower bound where a short "
        "template answered)\n",
        s.reference_model, s.reference_model, s.counterfactual_recorded_lengths,
        s.all.requests - s.counterfactual_recorded_lengths);
    if (s.paired > 0) {
      out += fmt::format(
          "  quality  routed {:.3f}  vs  all-{} {:.3f}  (mean recorded grade over {} paired "
          "requests; {:.1f}% of the reference's quality)\n",
          s.quality, s.reference_model, s.counterfactual_quality, s.paired,
          s.counterfactual_quality > 0 ? 100.0 * s.quality / s.counterfactual_quality : 0.0);
    } else {
      out += "  quality  not measured: no request has both a recorded grade and a reference grade";
      out += s.with_prompt == 0 ? " (the store kept no prompts: set store.keep_payloads)\n" : "\n";
    }
    out += fmt::format(
        "  not graded: {} synthesized placeholders, {} answers without a recorded grade "
        "(e.g. the local tier), {} without a reference grade, {} errors\n",
        s.ungraded_synthesized, s.ungraded_no_grade, s.ungraded_no_reference, s.ungraded_errors);
  }

  if (cfg) {
    out += "\nRecorded vs simulated:\n";
    for (const GroupStats& g : s.by_model) {
      if (const config::Model* m = cfg->find_model(g.name)) {
        out += fmt::format("  {:<20} {}\n", m->name, provenance(*cfg, *m, g, s));
      }
    }
    out += fmt::format(
        "  costs are token counts x the config's list prices{}\n",
        s.tokens_estimated
            ? fmt::format("; {} of {} requests have ESTIMATED token counts (no upstream usage)",
                          s.tokens_estimated, s.all.requests)
            : std::string());
  }
  out += "Latency is end to end as measured by the gateway (successful requests).\n";
  return out;
}

int run_report(const ReportOptions& o) {
  std::optional<config::Config> cfg;
  std::optional<ReferenceLookup> lookup;
  if (!o.config_path.empty()) {
    try {
      cfg = config::load_config(o.config_path);
      lookup = reference_lookup(*cfg);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "triage report: %s\n", e.what());
      return 2;
    }
  }
  auto rows = read_report_rows(o.store_path);
  if (!rows) {
    std::fprintf(stderr, "triage report: %s\n", rows.error().message.c_str());
    return 1;
  }
  // No replay reference: the counterfactual still prices the same tokens; nothing is paired.
  const ReferenceLookup none = [](std::string_view) { return ReferenceRecord{}; };
  const ReferenceLookup* ref = cfg ? (lookup ? &*lookup : &none) : nullptr;
  ReportSummary s = summarize(*rows, cfg ? &*cfg : nullptr, ref);
  const std::string where = telemetry::describe_store_location(o.store_path);
  std::fputs(report_text(s, where, cfg ? &*cfg : nullptr).c_str(), stdout);
  return 0;
}

}  // namespace triage::insights
