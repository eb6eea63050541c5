#include "cli/train_from_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>

#include "common/csv.h"
#include "datasets/dataset_rows.h"
#include "datasets/split.h"
#include "insights/store_pairs.h"
#include "ml/pair_metrics.h"
#include "ml/threshold_scorer.h"
#include "telemetry/store_reader.h"

namespace triage::cli {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos && !s.empty()) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + '"';
}

// A training row: what OUT.rows.csv holds.
struct Row {
  std::string id, prompt, category;
  double weak = 0.0, strong = 0.0;
  std::string source;  // "base" or the pair rule
};

std::vector<Row> read_base(const std::string& path) {
  const CsvTable t = read_csv_file(path);
  auto need = [&](const char* name) {
    auto c = t.column(name);
    if (!c) throw std::runtime_error("--base " + path + ": no column '" + name + "'");
    return *c;
  };
  const auto id = need("id"), prompt = need("prompt"), weak = need("weak_correct"),
             strong = need("strong_correct");
  const auto category = datasets::category_column(t);
  std::vector<Row> rows;
  for (const auto& r : t.rows) {
    auto w = datasets::parse_number_cell(r[weak]);
    auto s = datasets::parse_number_cell(r[strong]);
    if (!r[id] || !r[prompt] || !w || !s) continue;
    rows.push_back({*r[id], *r[prompt], category && r[*category] ? *r[*category] : "", *w, *s,
                    "base"});
  }
  return rows;
}

// Base rows first (in their order), each replaced by a pair with the same id; then new pairs.
// A pair's row id comes from its prompt, not its request id (random): the same labelled
// prompts give the same rows, the same train/test split and so the same router version,
// run after run (the file holds no request id for the same reason: its hash is the version);
// a prompt asked twice is one row, its latest evidence.
std::string content_id(const std::string& prompt) {
  return fmt::format("p-{:016x}", datasets::fnv1a64(prompt));
}

std::vector<Row> merge(std::vector<Row> base, std::vector<insights::RouterPair> pairs) {
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.prompt < b.prompt; });
  std::map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < base.size(); ++i) at[base[i].id] = i;
  for (const insights::RouterPair& p : pairs) {
    Row row{content_id(p.prompt), p.prompt, p.category, double(p.weak_correct),
            double(p.strong_correct), p.rule};
    if (auto it = at.find(row.id); it != at.end()) {
      base[it->second] = std::move(row);
    } else {
      at[row.id] = base.size();
      base.push_back(std::move(row));
    }
  }
  return base;
}

void write_rows(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write the training rows");
  out << "id,prompt,category,weak_correct,strong_correct,source\n";
  for (const Row& r : rows) {
    out << csv_field(r.id) << ',' << csv_field(r.prompt) << ',' << csv_field(r.category) << ','
        << r.weak << ',' << r.strong << ',' << csv_field(r.source) << '\n';
  }
  out.flush();
  if (!out) throw std::runtime_error(path + ": write failed");
}

std::string counts_text(const std::map<std::string, int64_t>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + fmt::format("{} {}", k, v);
  return s.empty() ? "none" : s;
}

// One version's decisions on the comparison rows.
struct VersionScore {
  std::string version;
  double routing_quality = 0.0;  // share of rows where strong was chosen iff weak was not good
  double strong_share = 0.0;     // share of rows sent strong
  double apgr = 0.0;
};

VersionScore score_version(const ml::ThresholdScorer& s, const std::vector<const Row*>& rows,
                           double share) {
  VersionScore v;
  v.version = s.version();
  const double t = ml::threshold_for_share(s.validation_scores(), share);
  std::vector<double> scores, weak, strong;
  int64_t agree = 0, sent_strong = 0;
  for (const Row* r : rows) {
    const double p = s.score(r->prompt, r->category);
    const bool to_strong = p > t;  // routes::ThresholdRoute::decide
    agree += to_strong == (r->weak < 0.5) ? 1 : 0;
    sent_strong += to_strong ? 1 : 0;
    scores.push_back(p);
    weak.push_back(r->weak);
    strong.push_back(r->strong);
  }
  const double n = static_cast<double>(rows.size());
  v.routing_quality = static_cast<double>(agree) / n;
  v.strong_share = static_cast<double>(sent_strong) / n;
  v.apgr = ml::apgr(ml::score_pgr_curve(scores, weak, strong, /*high_goes_strong=*/true).points);
  return v;
}

void print_comparison(const TrainFromStoreOptions& o, const train::TrainRouterOptions& router,
                      const std::vector<Row>& rows, std::ostream& out) {
  std::vector<const Row*> held_out;
  for (const Row& r : rows) {
    if (router.split.part(r.id) == datasets::SplitPart::kTest) held_out.push_back(&r);
  }
  out << fmt::format(
      "comparison on the {} held-out labelled rows (never trained on by the new version), "
      "decisions at strong_share {}:\n",
      held_out.size(), o.strong_share);
  if (held_out.empty()) {
    out << "  no held-out rows: label more traffic\n";
    return;
  }
  std::vector<std::pair<const char*, std::shared_ptr<const ml::ThresholdScorer>>> versions;
  if (!o.compare.empty()) versions.emplace_back("serving", ml::ThresholdScorer::load(o.compare));
  versions.emplace_back("new", ml::ThresholdScorer::load(router.out_path));
  for (const auto& [what, scorer] : versions) {
    const VersionScore v = score_version(*scorer, held_out, o.strong_share);
    out << fmt::format("  {:<8} {:<14} routing quality {:.3f}  strong {:.3f}  APGR {:.3f}\n",
                       what, v.version, v.routing_quality, v.strong_share, v.apgr);
  }
}

}  // namespace

std::optional<int64_t> parse_since(const std::string& since) {
  if (since.empty()) return std::nullopt;
  int64_t ms = 0;
  const char* end = since.data() + since.size();
  if (auto [p, ec] = std::from_chars(since.data(), end, ms); ec == std::errc() && p == end) {
    return ms;
  }
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail[8] = {};
  const int n = std::sscanf(since.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &s,
                            tail);
  const bool ok = (n == 3 && since.size() == 10) || n == 5 || n == 6 ||
                  (n == 7 && std::string(tail) == "Z");
  if (!ok || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    throw std::invalid_argument("--since must be unix milliseconds or YYYY-MM-DD[THH:MM[:SS]][Z] "
                                "(UTC), got '" + since + "'");
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

int run_train_router_from_store(const TrainFromStoreOptions& o,
                                train::TrainRouterOptions router) {
  try {
    insights::StorePairsOptions po;
    po.store_path = o.store_path;
    po.route = o.route;
    po.since_ms = parse_since(o.since);
    po.rules = {o.tiers, o.weak_tier.empty() ? o.tiers.front() : o.weak_tier,
                o.strong_tier.empty() ? o.tiers.back() : o.strong_tier};
    const insights::PairBuild pairs = insights::read_router_pairs(po);
    // Never the password of a postgres:// URI on screen.
    const std::string where = telemetry::describe_store_location(o.store_path);
    std::cout << fmt::format(
        "labelled traffic in {}{}: {} labels and feedback; {} training pairs ({}); skipped: {}\n",
        where, o.route.empty() ? "" : " (route " + o.route + ")", pairs.evidence,
        pairs.pairs.size(), counts_text(pairs.rules), counts_text(pairs.skipped));
    if (static_cast<int64_t>(pairs.pairs.size()) < o.min_labels) {
      std::cerr << fmt::format(
          "triage train router: too few labels in {}: {} labelled prompts give a training pair, "
          "--min-labels is {}; label more traffic (docs/review.md) or lower --min-labels\n",
          where, pairs.pairs.size(), o.min_labels);
      return 1;
    }
    std::vector<Row> base = o.base.empty() ? std::vector<Row>() : read_base(o.base);
    const std::size_t n_base = base.size();
    const std::vector<Row> rows = merge(std::move(base), pairs.pairs);
    router.dataset = router.out_path + ".rows.csv";
    write_rows(router.dataset, rows);
    std::cout << fmt::format("training rows: {} ({} from --base, {} pairs; {} replaced a base "
                             "row) -> {}\n",
                             rows.size(), n_base, pairs.pairs.size(),
                             n_base + pairs.pairs.size() - rows.size(), router.dataset);
    const train::TrainRouterReport rep = train::train_router(router);
    train::print_train_router_report(rep, router, std::cout);
    print_comparison(o, router, rows, std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage train router: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::cli
