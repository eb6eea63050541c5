#include "offline/report.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

namespace triage::offline {

namespace {

struct ModelStats {
  std::string tier;
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  double cost_usd = 0.0;
  std::vector<int64_t> total_us;  // successful requests only
};

double percentile_ms(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(idx, v.size() - 1)]) / 1000.0;
}

std::string text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? reinterpret_cast<const char*>(t) : "";
}

}  // namespace

int print_report(const std::string& store_path) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(store_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "triage report: cannot open %s: %s\n", store_path.c_str(),
                 raw ? sqlite3_errmsg(raw) : "out of memory");
    sqlite3_close(raw);
    return 1;
  }
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  sqlite3_stmt* stmt = nullptr;
  const char* sql =
      "SELECT COALESCE(NULLIF(model,''),'(none)'), tier, status, tokens_in, tokens_out, cost_usd, "
      "total_us FROM requests";
  if (sqlite3_prepare_v2(db.get(), sql, -1, &stmt, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "triage report: %s is not a Triage request store: %s\n",
                 store_path.c_str(), sqlite3_errmsg(db.get()));
    return 1;
  }
  std::map<std::string, ModelStats> by_model;
  ModelStats all;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    ModelStats& m = by_model[text(stmt, 0)];
    m.tier = text(stmt, 1);
    const bool ok = sqlite3_column_int(stmt, 2) < 400;
    for (ModelStats* s : {&m, &all}) {
      s->requests++;
      s->errors += ok ? 0 : 1;
      s->tokens_in += sqlite3_column_int64(stmt, 3);
      s->tokens_out += sqlite3_column_int64(stmt, 4);
      s->cost_usd += sqlite3_column_double(stmt, 5);
      if (ok) s->total_us.push_back(sqlite3_column_int64(stmt, 6));
    }
  }
  sqlite3_finalize(stmt);

  std::string out = fmt::format("Request store {}: {} requests, {} errors\n\n", store_path,
                                all.requests, all.errors);
  out += fmt::format("{:<28} {:>6} {:>8} {:>6} {:>10} {:>10} {:>12} {:>12} {:>9} {:>9} {:>9}\n",
                     "model", "tier", "requests", "share", "tokens_in", "tokens_out", "cost_usd",
                     "usd_per_req", "p50_ms", "p95_ms", "p99_ms");
  auto row = [&](const std::string& name, ModelStats& m) {
    const double share = all.requests ? 100.0 * static_cast<double>(m.requests) /
                                            static_cast<double>(all.requests)
                                      : 0.0;
    out += fmt::format(
        "{:<28} {:>6} {:>8} {:>5.1f}% {:>10} {:>10} {:>12.6f} {:>12.8f} {:>9.1f} {:>9.1f} {:>9.1f}\n",
        name, m.tier, m.requests, share, m.tokens_in, m.tokens_out, m.cost_usd,
        m.requests ? m.cost_usd / static_cast<double>(m.requests) : 0.0,
        percentile_ms(m.total_us, 0.50), percentile_ms(m.total_us, 0.95),
        percentile_ms(m.total_us, 0.99));
  };
  for (auto& [name, m] : by_model) row(name, m);
  all.tier = "";
  row("ALL", all);
  out += "\nLatency is end to end as measured by the gateway (successful requests).\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace triage::offline
