// Text, JSON and HTML (inline SVG, no scripts) renderings of an AnalyzeReport.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "insights/analyze.h"
#include "output/output_format.h"
#include "output/svg_plot.h"

namespace triage::insights {

namespace {

namespace json = boost::json;

std::string ms(const std::optional<double>& v) { return v ? fmt::format("{:.1f}", *v) : "n/a"; }
std::string pct(double v) { return fmt::format("{:.1f}%", v * 100.0); }
std::string usd(double v) { return fmt::format("${:.2f}", v); }
std::string cpi(double v) { return fmt::format("${:.6f}", v); }


// A horizontal bar chart: one bar per (label, value), scaled to the largest value.
std::string svg_bars(const std::string& title,
                     const std::vector<std::pair<std::string, double>>& bars,
                     bool money = false) {
  const int row = 22, label_w = 170, bar_w = 380, h = 30 + row * static_cast<int>(bars.size());
  double max = 0.0;
  for (const auto& b : bars) max = std::max(max, b.second);
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"{}\"><text x=\"0\" y=\"16\" font-weight=\"bold\">{}</text>",
      label_w + bar_w + 120, h, output::xml_escape(title), output::xml_escape(title));
  int y = 28;
  for (const auto& [label, v] : bars) {
    const double w = max > 0 ? v / max * bar_w : 0.0;
    s += fmt::format(
        "<text x=\"0\" y=\"{}\">{}</text><rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"16\" "
        "fill=\"#3b7dd8\"/><text x=\"{:.1f}\" y=\"{}\">{}</text>",
        y + 13, output::xml_escape(label), label_w, y, w, label_w + w + 6, y + 13,
        money ? usd(v) : fmt::format("{:.1f}%", v * 100.0));
    y += row;
  }
  return s + "</svg>";
}

}  // namespace

std::string analyze_text(const AnalyzeReport& r) {
  std::string out = fmt::format(
      "Traffic analysis of {}: {} requests, {} bad rows skipped; cost {} ({} per month)\n"
      "Period: {:.2f} days ({}); monthly figures x{:.3f}. SLO {:.2f}%. Reasoning: {}.\n",
      r.source, r.n_rows, r.n_bad, usd(r.cost_usd), usd(r.monthly_cost_usd), r.period_days,
      r.period_basis, r.month_factor, r.slo * 100.0, r.reasoning_basis);
  for (const std::string& b : r.bad_examples) out += "  bad row: " + b + "\n";

  out += "\nContext class (prompt tokens):  ";
  for (const CountShare& c : r.by_context) out += fmt::format("{} {} ({})  ", c.key, c.n, pct(c.share));
  out += "\nReasoning class:                ";
  for (const CountShare& c : r.by_reasoning) out += fmt::format("{} {} ({})  ", c.key, c.n, pct(c.share));
  if (!r.router_versions.empty()) {
    out += "\nRouter versions (decisions):    ";
    for (const RouterVersionDecisions& v : r.router_versions) {
      out += fmt::format("{} served {} in shadow {}  ", v.version, v.served, v.in_shadow);
    }
  }

  out += fmt::format("\n\n{:<20} {:>8} {:>7} {:>12} {:>11} {:>9} {:>9} {:>8} {:>8} {:>8} {:>13}\n",
                     "category", "requests", "share", "cost_usd", "cpi_usd", "p50_ms", "p95_ms",
                     "success", "tok_in", "tier", "usd_per_month");
  for (const CategoryStats& c : r.categories) {
    out += fmt::format("{:<20} {:>8} {:>7} {:>12.4f} {:>11} {:>9} {:>9} {:>8} {:>8.0f} {:>8} {:>13}\n",
                       c.category, c.n, pct(c.share), c.cost_usd, cpi(c.cpi_usd), ms(c.p50_ms),
                       ms(c.p95_ms), pct(c.success_rate), c.mean_tokens_in, c.main_tier,
                       usd(c.monthly_cost_usd));
  }

  out += fmt::format("\nSuccess per category x tier (SLO {:.2f}%)\n{:<20} {:<10} {:>8} {:>8} {:>11} {}\n",
                     r.slo * 100.0, "category", "tier", "requests", "success", "cpi_usd", "");
  for (const TierCell& t : r.tier_cells) {
    std::string note = t.within_slo ? "within SLO" : "below SLO";
    if (t.within_slo && t.cheaper_than_main) note += "; cheaper tier already handles it";
    out += fmt::format("{:<20} {:<10} {:>8} {:>8} {:>11} {}\n", t.category, t.tier, t.n,
                       pct(t.success_rate), cpi(t.cpi_usd), note);
  }

  out += fmt::format("\nComplexity matrix (context x reasoning -> recommended tier)\n"
                     "{:<20} {:<7} {:<9} {:>8} {:<10} {}\n",
                     "category", "context", "reasoning", "requests", "tier", "basis");
  for (const MatrixCell& m : r.matrix) {
    out += fmt::format("{:<20} {:<7} {:<9} {:>8} {:<10} {}\n", m.category, m.context, m.reasoning,
                       m.n, m.recommended_tier, m.basis);
  }

  out += fmt::format("\nOpportunities (move a category to a cheaper tier)\n"
                     "{:<20} {:<14} {:>12} {:>11} {:>11} {:>14} {:>6} {:>9} {:<8} {}\n",
                     "category", "move", "req/month", "cpi_now", "cpi_then", "saving/month",
                     "fit", "observed", "risk", "target CPI from");
  if (r.opportunities.empty()) out += "(none: no cheaper tier with a known CPI)\n";
  for (const Opportunity& op : r.opportunities) {
    out += fmt::format("{:<20} {:<14} {:>12.0f} {:>11} {:>11} {:>14} {:>6} {:>9} {:<8} {}\n",
                       op.category, op.from_tier + "->" + op.to_tier, op.monthly_requests,
                       cpi(op.current_cpi_usd), cpi(op.target_cpi_usd), usd(op.monthly_saving_usd),
                       pct(op.fit_share),
                       op.observed_success ? fmt::format("{}/{}", pct(*op.observed_success), op.observed_n)
                                           : std::string("none"),
                       op.risk, op.cpi_basis);
  }
  out += "\nfit = share of the category whose recommended tier is the target or cheaper; risk from "
         "the target tier's observed success on the category (unknown: never observed, shadow it first).\n";
  return out;
}

json::object analyze_json(const AnalyzeReport& r) {
  json::array bad;
  for (const std::string& b : r.bad_examples) bad.push_back(json::string(b));
  json::array versions;
  for (const RouterVersionDecisions& v : r.router_versions) {
    versions.push_back(
        json::object{{"version", v.version}, {"served", v.served}, {"in_shadow", v.in_shadow}});
  }
  auto shares = [](const std::vector<CountShare>& v) {
    json::array a;
    for (const CountShare& c : v) a.push_back(json::object{{"class", c.key}, {"requests", c.n}, {"share", c.share}});
    return a;
  };
  json::array cats;
  for (const CategoryStats& c : r.categories) {
    json::object ctx, reason;
    for (const auto& [k, n] : c.by_context) ctx[k] = n;
    for (const auto& [k, n] : c.by_reasoning) reason[k] = n;
    cats.push_back(json::object{{"category", c.category}, {"requests", c.n}, {"share", c.share},
                                {"cost_usd", c.cost_usd}, {"cpi_usd", c.cpi_usd},
                                {"mean_tokens_in", c.mean_tokens_in}, {"mean_tokens_out", c.mean_tokens_out},
                                {"p50_ms", output::json_or_null(c.p50_ms)}, {"p95_ms", output::json_or_null(c.p95_ms)},
                                {"p99_ms", output::json_or_null(c.p99_ms)},
                                {"success_rate", c.success_rate}, {"main_tier", c.main_tier},
                                {"monthly_requests", c.monthly_requests},
                                {"monthly_cost_usd", c.monthly_cost_usd},
                                {"by_context", std::move(ctx)}, {"by_reasoning", std::move(reason)}});
  }
  json::array cells;
  for (const TierCell& t : r.tier_cells) {
    cells.push_back(json::object{{"category", t.category}, {"tier", t.tier}, {"requests", t.n},
                                 {"ok", t.ok}, {"success_rate", t.success_rate},
                                 {"cost_usd", t.cost_usd}, {"cpi_usd", t.cpi_usd},
                                 {"within_slo", t.within_slo}, {"cheaper_than_main", t.cheaper_than_main}});
  }
  json::array matrix;
  for (const MatrixCell& m : r.matrix) {
    matrix.push_back(json::object{{"category", m.category}, {"context", m.context},
                                  {"reasoning", m.reasoning}, {"requests", m.n},
                                  {"recommended_tier", m.recommended_tier}, {"basis", m.basis}});
  }
  json::array ops;
  for (const Opportunity& op : r.opportunities) {
    ops.push_back(json::object{{"category", op.category}, {"from_tier", op.from_tier},
                               {"to_tier", op.to_tier}, {"monthly_requests", op.monthly_requests},
                               {"current_cpi_usd", op.current_cpi_usd}, {"target_cpi_usd", op.target_cpi_usd},
                               {"cpi_basis", op.cpi_basis}, {"monthly_saving_usd", op.monthly_saving_usd},
                               {"fit_share", op.fit_share}, {"observed_requests", op.observed_n},
                               {"observed_success", output::json_or_null(op.observed_success)}, {"risk", op.risk}});
  }
  json::array tiers;
  for (const std::string& t : r.tiers) tiers.push_back(json::string(t));
  return json::object{{"source", r.source}, {"reasoning_basis", r.reasoning_basis},
                      {"requests", r.n_rows}, {"bad_rows", r.n_bad}, {"bad_examples", std::move(bad)},
                      {"period_days", r.period_days}, {"period_basis", r.period_basis},
                      {"month_factor", r.month_factor}, {"slo", r.slo}, {"tiers", std::move(tiers)},
                      {"cost_usd", r.cost_usd}, {"monthly_cost_usd", r.monthly_cost_usd},
                      {"by_context", shares(r.by_context)}, {"by_reasoning", shares(r.by_reasoning)},
                      {"categories", std::move(cats)}, {"tier_cells", std::move(cells)},
                      {"matrix", std::move(matrix)}, {"opportunities", std::move(ops)},
                      {"router_versions", std::move(versions)}};
}

std::string analyze_html(const AnalyzeReport& r) {
  std::string h =
      "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Triage traffic analysis</title>"
      "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
      "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
      "td:first-child,th:first-child{text-align:left}svg{font-size:12px;display:block;"
      "margin:1em 0}.low{color:#1a7f37}.high{color:#c62828}</style></head><body>";
  h += fmt::format("<h1>Traffic analysis</h1><p>{}: {} requests ({} bad rows skipped), cost {} "
                   "({} per month). Period {:.2f} days ({}). SLO {:.2f}%. Reasoning: {}.</p>",
                   output::xml_escape(r.source), r.n_rows, r.n_bad, usd(r.cost_usd), usd(r.monthly_cost_usd),
                   r.period_days, output::xml_escape(r.period_basis), r.slo * 100.0, output::xml_escape(r.reasoning_basis));
  std::vector<std::pair<std::string, double>> share, cost, ctx, reason;
  for (const CategoryStats& c : r.categories) {
    share.push_back({c.category, c.share});
    cost.push_back({c.category, c.monthly_cost_usd});
  }
  for (const CountShare& c : r.by_context) ctx.push_back({c.key, c.share});
  for (const CountShare& c : r.by_reasoning) reason.push_back({c.key, c.share});
  h += svg_bars("Requests by category", share);
  h += svg_bars("Cost per month by category", cost, true);
  h += svg_bars("Context class (prompt tokens)", ctx);
  h += svg_bars("Reasoning class", reason);

  h += "<h2>Categories</h2><table><tr><th>category</th><th>requests</th><th>share</th>"
       "<th>cost</th><th>CPI</th><th>p50 ms</th><th>p95 ms</th><th>success</th><th>main tier</th>"
       "<th>per month</th></tr>";
  for (const CategoryStats& c : r.categories) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                     "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                     output::xml_escape(c.category), c.n, pct(c.share), usd(c.cost_usd), cpi(c.cpi_usd),
                     ms(c.p50_ms), ms(c.p95_ms), pct(c.success_rate), output::xml_escape(c.main_tier),
                     usd(c.monthly_cost_usd));
  }
  h += "</table><h2>Success per category and tier</h2><table><tr><th>category</th><th>tier</th>"
       "<th>requests</th><th>success</th><th>CPI</th><th>SLO</th></tr>";
  for (const TierCell& t : r.tier_cells) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                     output::xml_escape(t.category), output::xml_escape(t.tier), t.n, pct(t.success_rate), cpi(t.cpi_usd),
                     t.within_slo ? "low" : "high", t.within_slo ? "within" : "below");
  }
  h += "</table><h2>Complexity matrix</h2><table><tr><th>category</th><th>context</th>"
       "<th>reasoning</th><th>requests</th><th>recommended tier</th><th>basis</th></tr>";
  for (const MatrixCell& m : r.matrix) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                     output::xml_escape(m.category), output::xml_escape(m.context), output::xml_escape(m.reasoning), m.n,
                     output::xml_escape(m.recommended_tier), output::xml_escape(m.basis));
  }
  h += "</table><h2>Opportunities</h2>";
  std::vector<std::pair<std::string, double>> savings;
  for (const Opportunity& op : r.opportunities) {
    savings.push_back({op.category + " -> " + op.to_tier, op.monthly_saving_usd});
  }
  if (!savings.empty()) h += svg_bars("Projected saving per month", savings, true);
  h += "<table><tr><th>category</th><th>move</th><th>requests/month</th><th>CPI now</th>"
       "<th>CPI then</th><th>saving/month</th><th>fit</th><th>observed</th><th>risk</th>"
       "<th>target CPI from</th></tr>";
  for (const Opportunity& op : r.opportunities) {
    h += fmt::format(
        "<tr><td>{}</td><td>{} &rarr; {}</td><td>{:.0f}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
        output::xml_escape(op.category), output::xml_escape(op.from_tier), output::xml_escape(op.to_tier), op.monthly_requests,
        cpi(op.current_cpi_usd), cpi(op.target_cpi_usd), usd(op.monthly_saving_usd),
        pct(op.fit_share),
        op.observed_success ? fmt::format("{} of {}", pct(*op.observed_success), op.observed_n)
                            : std::string("none"),
        output::xml_escape(op.risk), output::xml_escape(op.risk), output::xml_escape(op.cpi_basis));
  }
  h += "</table><p>fit: share of the category whose recommended tier is the target or cheaper. "
       "Risk from the target tier's observed success on the category; unknown means never "
       "observed: shadow it first.</p></body></html>\n";
  return h;
}

}  // namespace triage::insights
