#include "insights/roi.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "telemetry/counterfactual.h"
#include "telemetry/store_reader.h"

namespace triage::insights {

namespace {

using Wide = RoiResult::Wide;
constexpr int64_t kE9 = 1'000'000'000;
constexpr int64_t kMonthMs = 30LL * 24 * 3600 * 1000;

Error bad(std::string msg) { return make_error(ErrorCode::kInvalidRequest, std::move(msg)); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string group_thousands(std::string digits) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string format_count(int64_t n) {
  std::string out(n < 0 ? "-" : "");
  out += group_thousands(std::to_string(n < 0 ? -n : n));
  return out;
}

// Exact ratio a/b of two wide integers as a double (both fit comfortably in a long double).
double ratio(Wide a, Wide b) {
  return static_cast<double>(static_cast<long double>(a) / static_cast<long double>(b));
}

std::string share_text(int64_t ppb) { return fmt::format("{:.1f}%", ppb / 1e7); }

}  // namespace

Result<int64_t> parse_decimal_e9(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '$') s.remove_prefix(1);
  if (!s.empty() && s.front() == '-') {
    return bad(fmt::format("{}: must be non-negative, got '{}'", what, text));
  }
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t whole = 0, frac = 0;
  int frac_digits = 0, digits = 0;
  bool dot = false, round_up = false;
  for (char c : s) {
    if (c == '.' && !dot) {
      dot = true;
    } else if (c >= '0' && c <= '9') {
      ++digits;
      if (!dot) {
        if (whole > (INT64_MAX / kE9 - 9) / 10) {
          return bad(fmt::format("{}: '{}' is too large", what, text));
        }
        whole = whole * 10 + (c - '0');
      } else if (frac_digits < 9) {
        frac = frac * 10 + (c - '0');
        ++frac_digits;
      } else if (frac_digits == 9) {
        round_up = c >= '5';
        ++frac_digits;
      }
    } else {
      return bad(fmt::format("{}: expected a decimal number such as 0.15, got '{}'", what, text));
    }
  }
  if (digits == 0) {
    return bad(fmt::format("{}: expected a decimal number such as 0.15, got '{}'", what, text));
  }
  for (int i = std::min(frac_digits, 9); i < 9; ++i) frac *= 10;
  return whole * kE9 + frac + (round_up ? 1 : 0);
}

Result<std::vector<MixItem>> parse_mix(std::string_view text) {
  std::vector<MixItem> items;
  size_t pos = 0;
  int index = 0;
  if (trim(text).empty()) return bad("--mix: empty; expected SHARE@CPI,... e.g. 0.4@0.001,0.6@0.15");
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = trim(text.substr(pos, comma - pos));
    ++index;
    const std::string where = fmt::format("--mix item {} '{}'", index, item);
    size_t at = item.find('@');
    if (item.empty() || at == std::string_view::npos || item.find('@', at + 1) != item.npos) {
      return bad(where + ": expected SHARE@CPI, e.g. 0.4@0.001");
    }
    auto share = parse_decimal_e9(item.substr(0, at), where + ": share");
    if (!share) return share.error();
    auto cpi = parse_decimal_e9(item.substr(at + 1), where + ": CPI");
    if (!cpi) return cpi.error();
    if (*share > kPartsPerUnit) return bad(where + ": share must be between 0 and 1");
    items.push_back(MixItem{fmt::format("#{}", index), *share, *cpi, 0});
    pos = comma + 1;
  }
  return items;
}

double RoiResult::savings_pct() const {
  return monthly_before == 0 ? 0.0 : 100.0 * ratio(monthly_savings(), monthly_before);
}

std::optional<double> RoiResult::payback_months() const {
  if (input.engineering_cost_usd_e9 <= 0 || monthly_savings() <= 0) return std::nullopt;
  return ratio(static_cast<Wide>(input.engineering_cost_usd_e9) * kE9, monthly_savings());
}

Result<RoiResult> compute_roi(const RoiInput& in) {
  if (in.requests_per_month < 0) return bad("--requests-per-month: must be non-negative");
  if (in.current_cpi_nusd < 0) return bad("--current-cpi: must be non-negative");
  if (in.engineering_cost_usd_e9 < 0) return bad("--engineering-cost: must be non-negative");
  if (in.mix.empty()) return bad("--mix: at least one SHARE@CPI item is needed");
  int64_t sum = 0;
  for (const MixItem& m : in.mix) {
    if (m.share_ppb < 0 || m.cpi_nusd < 0) {
      return bad(fmt::format("--mix item {}: shares and CPIs must be non-negative", m.name));
    }
    sum += m.share_ppb;
  }
  // 1e-6 of 10^9 parts.
  if (std::llabs(sum - kPartsPerUnit) > 1000) {
    return bad(fmt::format("--mix: shares sum to {}, expected 1 (within 1e-6)",
                           static_cast<double>(sum) / kPartsPerUnit));
  }
  RoiResult r;
  r.input = in;
  const Wide n = in.requests_per_month;
  r.monthly_before = n * in.current_cpi_nusd * kE9;
  for (const MixItem& m : in.mix) {
    Wide cost = n * m.share_ppb * m.cpi_nusd;
    r.item_monthly.push_back(cost);
    r.monthly_after += cost;
  }
  return r;
}

int64_t to_cents(Wide usd_e18) {
  constexpr Wide kPerCent = static_cast<Wide>(kE9) * kE9 / 100;
  const bool neg = usd_e18 < 0;
  Wide a = neg ? -usd_e18 : usd_e18;
  auto cents = static_cast<int64_t>((a + kPerCent / 2) / kPerCent);
  return neg ? -cents : cents;
}

std::string format_usd_cents(int64_t cents) {
  const bool neg = cents < 0;
  const int64_t a = neg ? -cents : cents;
  std::string out(neg ? "-$" : "$");
  out += group_thousands(std::to_string(a / 100));
  if (a % 100 != 0) out += fmt::format(".{:02d}", a % 100);
  return out;
}

std::string format_usd_nano(int64_t nusd) {
  std::string frac = fmt::format("{:09d}", nusd % kE9);
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  if (frac == "00") frac.clear();
  std::string out("$");
  out += group_thousands(std::to_string(nusd / kE9));
  if (!frac.empty()) out += "." + frac;
  return out;
}

std::string roi_text(const RoiResult& r) {
  const RoiInput& in = r.input;
  auto usd = [](Wide v) { return format_usd_cents(to_cents(v)); };
  std::string out = fmt::format("ROI ({}): {} requests/month, current CPI {}", in.source,
                                format_count(in.requests_per_month),
                                format_usd_nano(in.current_cpi_nusd));
  if (in.engineering_cost_usd_e9 > 0) {
    out += fmt::format(", engineering cost {}",
                       usd(static_cast<Wide>(in.engineering_cost_usd_e9) * kE9));
  }
  out += "\n\n";
  out += fmt::format("{:<10} {:>7} {:>14} {:>16} {:>14}\n", "mix", "share", "CPI",
                     "requests/month", "cost/month");
  for (size_t i = 0; i < in.mix.size(); ++i) {
    const MixItem& m = in.mix[i];
    const Wide req = static_cast<Wide>(in.requests_per_month) * m.share_ppb;
    out += fmt::format("{:<10} {:>7} {:>14} {:>16} {:>14}\n", m.name, share_text(m.share_ppb),
                       format_usd_nano(m.cpi_nusd),
                       format_count(static_cast<int64_t>((req + kE9 / 2) / kE9)),
                       usd(r.item_monthly[i]));
  }
  out += "\n";
  out += fmt::format("{:<10} {:>14} {:>14} {:>16}\n", "", "before", "after", "savings");
  out += fmt::format("{:<10} {:>14} {:>14} {:>16}\n", "monthly", usd(r.monthly_before),
                     usd(r.monthly_after),
                     fmt::format("{} ({:.1f}%)", usd(r.monthly_savings()), r.savings_pct()));
  out += fmt::format("{:<10} {:>14} {:>14} {:>16}\n", "annual", usd(r.monthly_before * 12),
                     usd(r.monthly_after * 12), usd(r.monthly_savings() * 12));
  auto payback = r.payback_months();
  std::string payback_text =
      payback ? (*payback < 0.05 ? std::string("under 0.1 months")
                                 : fmt::format("{:.1f} months", *payback))
              : (in.engineering_cost_usd_e9 > 0 ? "never (no monthly savings)" : "n/a");
  out += fmt::format("{:<10} {}\n\n", "payback", payback_text);
  out += fmt::format("{}/month instead of {}: {} ({:.1f}%) saved a month, {} a year",
                     usd(r.monthly_after), usd(r.monthly_before), usd(r.monthly_savings()),
                     r.savings_pct(), usd(r.monthly_savings() * 12));
  if (payback) out += fmt::format("; payback {}", payback_text);
  out += ".\n";
  for (const std::string& note : in.notes) out += "note: " + note + "\n";
  return out;
}

boost::json::object roi_json(const RoiResult& r) {
  namespace json = boost::json;
  const RoiInput& in = r.input;
  auto usd = [](Wide v) { return static_cast<double>(to_cents(v)) / 100.0; };
  json::array mix;
  for (size_t i = 0; i < in.mix.size(); ++i) {
    const MixItem& m = in.mix[i];
    json::object o{{"name", m.name},
                   {"share", static_cast<double>(m.share_ppb) / kPartsPerUnit},
                   {"cpi_usd", static_cast<double>(m.cpi_nusd) / kNanoPerUsd},
                   {"monthly_cost_usd", usd(r.item_monthly[i])}};
    if (m.requests > 0) o["observed_requests"] = m.requests;
    mix.push_back(std::move(o));
  }
  auto payback = r.payback_months();
  json::array notes;
  for (const std::string& n : in.notes) notes.push_back(json::string(n));
  return json::object{
      {"source", in.source},
      {"requests_per_month", in.requests_per_month},
      {"current_cpi_usd", static_cast<double>(in.current_cpi_nusd) / kNanoPerUsd},
      {"engineering_cost_usd", static_cast<double>(in.engineering_cost_usd_e9) / kE9},
      {"mix", std::move(mix)},
      {"monthly_cost_before_usd", usd(r.monthly_before)},
      {"monthly_cost_after_usd", usd(r.monthly_after)},
      {"monthly_savings_usd", usd(r.monthly_savings())},
      {"savings_pct", std::round(r.savings_pct() * 100.0) / 100.0},
      {"annual_cost_before_usd", usd(r.monthly_before * 12)},
      {"annual_cost_after_usd", usd(r.monthly_after * 12)},
      {"annual_savings_usd", usd(r.monthly_savings() * 12)},
      {"payback_months", payback ? json::value(*payback) : json::value(nullptr)},
      {"notes", std::move(notes)}};
}

Result<RoiInput> roi_input_from_store(const std::string& store_path, const config::Config& cfg,
                                      std::optional<int64_t> requests_per_month) {
  const config::Model* ref = cfg.find_model(cfg.reference_model);
  if (!ref) return bad("--from-store: the config names no reference model");
  auto reader = telemetry::open_store_reader(store_path);
  if (!reader) return bad("--from-store: " + reader.error().message);
  auto totals = (*reader)->tier_totals();
  if (!totals) return bad("--from-store: " + totals.error().message);
  struct Tier {
    std::string name;
    int64_t n;
    double cost;
  };
  std::vector<Tier> tiers;
  int64_t total = 0, min_ts = INT64_MAX, max_ts = INT64_MIN;
  double counterfactual = 0.0;
  for (const telemetry::TierTotals& t : *totals) {
    tiers.push_back({t.tier, t.requests, t.cost_usd});
    counterfactual +=
        telemetry::counterfactual_cost_usd(ref->prices, t.tokens_in, t.tokens_out, t.requests);
    total += t.requests;
    min_ts = std::min<int64_t>(min_ts, t.first_ts_ms);
    max_ts = std::max<int64_t>(max_ts, t.last_ts_ms);
  }
  if (total == 0) {
    return bad(fmt::format("--from-store: {} holds no requests",
                           telemetry::describe_store_location(store_path)));
  }

  // Cheapest tier first (config order), unknown tiers after, by name.
  std::sort(tiers.begin(), tiers.end(), [&](const Tier& a, const Tier& b) {
    int ia = cfg.tier_index(a.name), ib = cfg.tier_index(b.name);
    ia = ia < 0 ? INT32_MAX : ia;
    ib = ib < 0 ? INT32_MAX : ib;
    return ia != ib ? ia < ib : a.name < b.name;
  });
  RoiInput in;
  in.source = fmt::format("store {}", store_path);
  // Largest-remainder rounding so that the shares sum to exactly 10^9 parts.
  std::vector<std::pair<int64_t, size_t>> remainders;
  int64_t assigned = 0;
  for (size_t i = 0; i < tiers.size(); ++i) {
    const Wide scaled = static_cast<Wide>(tiers[i].n) * kPartsPerUnit;
    MixItem m;
    m.name = tiers[i].name;
    m.share_ppb = static_cast<int64_t>(scaled / total);
    m.cpi_nusd = std::llround(tiers[i].cost / static_cast<double>(tiers[i].n) * kNanoPerUsd);
    m.requests = tiers[i].n;
    assigned += m.share_ppb;
    remainders.push_back({static_cast<int64_t>(scaled % total), i});
    in.mix.push_back(m);
  }
  std::sort(remainders.rbegin(), remainders.rend());
  for (size_t k = 0; assigned < kPartsPerUnit && k < remainders.size(); ++k, ++assigned) {
    in.mix[remainders[k].second].share_ppb += 1;
  }
  in.current_cpi_nusd = std::llround(counterfactual / static_cast<double>(total) * kNanoPerUsd);
  in.notes.push_back(fmt::format(
      "current CPI = the counterfactual: the same {} requests' tokens on the reference model {} "
      "(${}/${} per 1M input/output tokens)",
      format_count(total), ref->name, ref->prices.input_per_mtok, ref->prices.output_per_mtok));
  if (requests_per_month) {
    in.requests_per_month = *requests_per_month;
  } else {
    const int64_t span_ms = max_ts - min_ts;
    if (span_ms <= 0) {
      return bad(fmt::format(
          "--from-store: the store's requests span no time; pass --requests-per-month"));
    }
    in.requests_per_month = static_cast<int64_t>(
        std::llround(static_cast<double>(total) * kMonthMs / static_cast<double>(span_ms)));
    in.notes.push_back(fmt::format(
        "requests per month = {} stored requests over {:.2f} days, scaled to 30 days",
        format_count(total), static_cast<double>(span_ms) / 86'400'000.0));
  }
  return in;
}

int run_roi(const RoiOptions& o) {
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "triage roi: %s\n", msg.c_str());
    return 2;
  };
  RoiInput in;
  if (!o.from_store.empty()) {
    if (o.config_path.empty()) return fail("--from-store needs -c CONFIG (the reference model's prices)");
    if (!o.mix.empty() || !o.current_cpi.empty()) {
      return fail("--from-store takes the mix and the current CPI from the store; drop --mix and --current-cpi");
    }
    config::Config cfg = config::load_config(o.config_path);
    auto r = roi_input_from_store(o.from_store, cfg, o.requests_per_month);
    if (!r) return fail(r.error().message);
    in = std::move(r.value());
  } else {
    if (!o.requests_per_month) return fail("--requests-per-month is required (or --from-store)");
    if (o.current_cpi.empty()) return fail("--current-cpi is required (or --from-store)");
    if (o.mix.empty()) return fail("--mix is required (or --from-store)");
    in.requests_per_month = *o.requests_per_month;
    auto cpi = parse_decimal_e9(o.current_cpi, "--current-cpi");
    if (!cpi) return fail(cpi.error().message);
    in.current_cpi_nusd = *cpi;
    auto mix = parse_mix(o.mix);
    if (!mix) return fail(mix.error().message);
    in.mix = std::move(mix.value());
  }
  if (!o.engineering_cost.empty()) {
    auto cost = parse_decimal_e9(o.engineering_cost, "--engineering-cost");
    if (!cost) return fail(cost.error().message);
    in.engineering_cost_usd_e9 = *cost;
  }
  auto result = compute_roi(in);
  if (!result) return fail(result.error().message);
  if (o.format == "json") {
    std::cout << boost::json::serialize(roi_json(*result)) << "\n";
  } else {
    std::cout << roi_text(*result);
  }
  return 0;
}

}  // namespace triage::insights
