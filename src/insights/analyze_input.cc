// Loading traffic for `triage analyze`: the reasoning heuristic, the JSONL/CSV log importer and
// the view over the request store (insights/analyze_input.h).
#include "insights/analyze_input.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <memory>
#include <map>
#include <set>

#include "common/csv.h"
#include "core/tokens.h"
#include "insights/analyze.h"
#include "ml/threshold_scorer.h"

namespace triage::insights {

namespace {

namespace json = boost::json;

Error fail(std::string msg) { return make_error(ErrorCode::kInvalidRequest, std::move(msg)); }

const std::set<std::string, std::less<>> kReasoningWords = {
    "why",     "explain", "prove",   "derive",   "analyze", "analyse",  "compare", "evaluate",
    "design",  "optimize", "optimise", "justify", "reason", "calculate", "compute", "solve",
    "implement", "debug", "refactor", "plan",    "infer",   "deduce",   "critique", "assess"};
const std::set<std::string, std::less<>> kConstraintWords = {
    "must", "should", "exactly", "without", "only", "ensure", "least", "most",
    "never", "always", "require", "requires", "limit", "within", "format", "avoid"};
const std::set<std::string, std::less<>> kMathWords = {
    "equation", "integral", "derivative", "probability", "percent", "percentage", "sum",
    "product", "average", "ratio", "matrix", "theorem", "modulo", "sqrt", "log"};
const std::set<std::string, std::less<>> kCodeWords = {"function", "class", "def", "return",
                                                       "struct", "const", "lambda", "select"};
constexpr std::string_view kPhrases[] = {" step by step ", " trade off ", " pros and cons ",
                                         " what if ", " how would "};

bool is_op(char c) { return c == '+' || c == '-' || c == '*' || c == '/' || c == '^' || c == '='; }

// Counts "digit [spaces] op [spaces] digit" occurrences (3*4, 12 / 5, x^2 = 9 counts once).
int arithmetic_hits(std::string_view s) {
  int hits = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) continue;
    size_t j = i + 1;
    while (j < s.size() && s[j] == ' ') ++j;
    if (j >= s.size() || !is_op(s[j])) continue;
    ++j;
    while (j < s.size() && s[j] == ' ') ++j;
    if (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '(')) {
      ++hits;
      i = j;
    }
  }
  return hits;
}

}  // namespace

std::string_view context_class(int64_t tokens_in) {
  if (tokens_in < kShortContextMax) return "<1K";
  if (tokens_in <= kMediumContextMax) return "1K-8K";
  return ">8K";
}

ReasoningEstimate estimate_reasoning(std::string_view prompt) {
  std::string joined = " ";  // lowercase words separated by single spaces
  std::set<std::string, std::less<>> reasoning, constraints;
  int math = arithmetic_hits(prompt), words = 0, questions = 0;
  bool code = prompt.find("```") != std::string_view::npos ||
              prompt.find("#include") != std::string_view::npos;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    ++words;
    if (kReasoningWords.count(word)) reasoning.insert(word);
    if (kConstraintWords.count(word)) constraints.insert(word);
    if (kMathWords.count(word)) ++math;
    if (kCodeWords.count(word)) code = true;
    joined += word + " ";
    word.clear();
  };
  for (char c : prompt) {
    if (c == '?') ++questions;
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      flush();
    }
  }
  flush();
  int phrases = 0;
  for (std::string_view p : kPhrases) phrases += joined.find(p) != std::string::npos ? 1 : 0;
  const size_t reasons = reasoning.size() + static_cast<size_t>(phrases);
  int score = 0;
  score += reasons >= 3 ? 2 : reasons >= 1 ? 1 : 0;
  score += questions >= 4 ? 2 : questions >= 2 ? 1 : 0;
  score += constraints.size() >= 4 ? 2 : constraints.size() >= 2 ? 1 : 0;
  score += math >= 3 ? 2 : math >= 1 ? 1 : 0;
  score += code ? 1 : 0;
  score += words > 200 ? 1 : 0;
  return {score, score >= 4 ? "complex" : score >= 2 ? "moderate" : "simple"};
}

namespace {

// One log record, whatever the file format. JSON nulls and empty CSV cells are absent.
class Record {
 public:
  explicit Record(json::object o) : o_(std::move(o)) {}

  std::optional<std::string> text(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_number() || v->is_bool()) return json::serialize(*v);
    error_ = fmt::format("{}: expected a string", key);
    return std::nullopt;
  }

  std::optional<double> number(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    if (v->is_uint64()) return static_cast<double>(v->as_uint64());
    if (v->is_double()) return v->as_double();
    if (v->is_string()) {
      std::string_view s = v->as_string();
      double d = 0.0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return d;
    }
    error_ = fmt::format("{}: expected a number", key);
    return std::nullopt;
  }

  std::optional<bool> flag(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_bool()) return v->as_bool();
    auto t = text(key);
    if (t == "true" || t == "1") return true;
    if (t == "false" || t == "0") return false;
    error_ = fmt::format("{}: expected true or false", key);
    return std::nullopt;
  }

  // The first type error met by text()/number()/flag(), empty when none.
  const std::string& error() const { return error_; }

 private:
  json::object o_;
  mutable std::string error_;
};

constexpr const char* kCreateTable =
    "CREATE TABLE r (category TEXT NOT NULL, tier TEXT NOT NULL, model TEXT NOT NULL, "
    "tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, cost_usd REAL NOT NULL, "
    "latency_ms REAL, ok INTEGER NOT NULL, ctx TEXT NOT NULL, reasoning TEXT NOT NULL, "
    "ts_ms INTEGER)";

// One row of `r`.
struct AnalysisRow {
  std::string category, tier, model;
  int64_t tokens_in = 0, tokens_out = 0;
  double cost_usd = 0.0;
  std::optional<double> latency_ms;
  bool ok = true;
  std::string reasoning;
  std::optional<int64_t> ts_ms;
};

// The relation `r`, filled in one transaction.
class AnalysisTable {
 public:
  explicit AnalysisTable(telemetry::sqlite::Connection& db) : db_(db) {}

  Result<void> begin() {
    if (auto r = db_.exec(std::string(kCreateTable) + "; BEGIN"); !r) {
      return fail("cannot create the analysis table: " + r.error().message);
    }
    insert_ = telemetry::sqlite::Statement(
        db_, "INSERT INTO r VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    if (!insert_.ok()) return fail("cannot prepare the insert: " + db_.last_error());
    return {};
  }

  // False when SQLite refused the row (db().last_error() says why).
  bool insert(const AnalysisRow& row) {
    insert_.reset();
    insert_.bind(1, row.category).bind(2, row.tier).bind(3, row.model);
    insert_.bind(4, row.tokens_in).bind(5, row.tokens_out).bind(6, row.cost_usd);
    if (row.latency_ms) insert_.bind(7, *row.latency_ms);
    else insert_.bind_null(7);
    insert_.bind(8, row.ok ? 1 : 0);
    insert_.bind(9, context_class(row.tokens_in)).bind(10, row.reasoning);
    if (row.ts_ms) insert_.bind(11, *row.ts_ms);
    else insert_.bind_null(11);
    return insert_.run();
  }

  Result<void> commit() {
    if (!db_.exec("COMMIT")) return fail("cannot commit the analysis table: " + db_.last_error());
    return {};
  }

  telemetry::sqlite::Connection& db() { return db_; }

 private:
  telemetry::sqlite::Connection& db_;
  telemetry::sqlite::Statement insert_;
};

class Importer {
 public:
  Importer(telemetry::sqlite::Connection& db, const LogImportContext& ctx)
      : table_(db), ctx_(ctx) {}

  Result<void> begin() { return table_.begin(); }

  void bad(const std::string& where, const std::string& why) {
    ++stats_.bad;
    if (stats_.bad_examples.size() < kMaxBadExamples) stats_.bad_examples.push_back(where + ": " + why);
  }

  // Converts and inserts one record; counts it as bad with a reason otherwise.
  void add(const Record& rec, const std::string& where) {
    auto model = rec.text("model");
    auto prompt = rec.text("prompt");
    auto response = rec.text("response");
    auto category = rec.text("category");
    auto tier = rec.text("tier");
    auto tokens_in = rec.number("tokens_in");
    auto tokens_out = rec.number("tokens_out");
    auto cost = rec.number("cost_usd");
    auto latency = rec.number("latency_ms");
    auto ts = rec.number("ts_ms");
    auto ok_flag = rec.flag("ok");
    auto status = rec.number("status");
    auto error = rec.text("error");
    if (!rec.error().empty()) return bad(where, rec.error());
    if (!model || model->empty()) return bad(where, "model: missing");
    if (!tokens_in && !prompt) return bad(where, "needs prompt or tokens_in");
    for (auto* v : {&tokens_in, &tokens_out, &cost, &latency}) {
      if (*v && **v < 0) return bad(where, "negative tokens, cost or latency");
    }
    const config::Model* m = ctx_.cfg ? ctx_.cfg->find_model(*model) : nullptr;
    AnalysisRow row;
    row.tokens_in = tokens_in ? static_cast<int64_t>(*tokens_in) : core::estimate_tokens(*prompt);
    row.tokens_out = tokens_out ? static_cast<int64_t>(*tokens_out)
                     : response ? core::estimate_tokens(*response)
                                : 0;
    if (!cost) {
      if (!m) return bad(where, fmt::format("cost_usd: missing (and no -c price for model '{}')", *model));
      cost = config::cost_usd(m->prices, row.tokens_in, row.tokens_out);
    }
    row.cost_usd = *cost;
    row.tier = tier && !tier->empty() ? *tier : m ? m->tier : "(unknown)";
    if (ok_flag) row.ok = *ok_flag;
    else if (status) row.ok = *status < 400;
    else if (error) row.ok = error->empty();
    row.reasoning = "unknown";
    if (prompt && ctx_.router) {
      const double p = ctx_.router->score(*prompt, category.value_or(""));
      row.reasoning = p >= ctx_.router_threshold ? "complex" : "simple";
    } else if (prompt) {
      row.reasoning = std::string(estimate_reasoning(*prompt).klass);
    }
    row.category = category && !category->empty() ? *category : "(none)";
    row.model = *model;
    row.latency_ms = latency;
    if (ts) row.ts_ms = static_cast<int64_t>(*ts);
    if (!table_.insert(row)) return bad(where, table_.db().last_error());
    ++stats_.rows;
  }

  Result<LogImportStats> commit() {
    if (auto r = table_.commit(); !r) return r.error();
    return stats_;
  }

 private:
  AnalysisTable table_;
  const LogImportContext& ctx_;
  LogImportStats stats_;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Result<LogImportStats> import_log(telemetry::sqlite::Connection& db, const std::string& path,
                                  const LogImportContext& ctx) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("--log: cannot read {}", path));
  bool jsonl;
  if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson") || ends_with(path, ".json")) {
    jsonl = true;
  } else if (ends_with(path, ".csv")) {
    jsonl = false;
  } else {
    char c = ' ';
    while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
    }
    jsonl = c == '{';
    in.clear();
    in.seekg(0);
  }
  Importer imp(db, ctx);
  if (auto r = imp.begin(); !r) return r.error();
  if (jsonl) {
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      const std::string where = fmt::format("line {}", line_no);
      if (ec) {
        imp.bad(where, "not valid JSON (" + ec.message() + ")");
      } else if (!v.is_object()) {
        imp.bad(where, "not a JSON object");
      } else {
        imp.add(Record(std::move(v.as_object())), where);
      }
    }
  } else {
    in.close();
    CsvTable table;
    try {
      table = read_csv_file(path);
    } catch (const CsvError& e) {
      return fail(std::string("--log: ") + e.what());
    }
    for (size_t i = 0; i < table.rows.size(); ++i) {
      json::object o;
      for (size_t c = 0; c < table.header.size(); ++c) {
        if (table.rows[i][c]) o[table.header[c]] = *table.rows[i][c];
      }
      imp.add(Record(std::move(o)), fmt::format("record {}", i + 1));
    }
  }
  return imp.commit();
}

Result<int64_t> import_store(telemetry::sqlite::Connection& db, telemetry::TrafficReader& store,
                             const std::vector<std::string>& tiers,
                             const std::map<std::string, std::string>& model_tiers,
                             std::map<std::string, std::pair<int64_t, int64_t>>* router_versions) {
  // A tier's reasoning class: the cheapest is simple, the dearest complex, the rest moderate.
  auto reasoning_of = [&](const std::string& tier) -> std::string {
    for (size_t i = 0; i < tiers.size(); ++i) {
      if (tiers[i] != tier) continue;
      return i == 0 ? "simple" : i + 1 == tiers.size() ? "complex" : "moderate";
    }
    return "unknown";
  };
  AnalysisTable table(db);
  if (auto r = table.begin(); !r) return r.error();
  int64_t rows = 0;
  auto scanned = store.scan_traffic([&](telemetry::TrafficRow&& t) -> Result<void> {
    AnalysisRow row;
    row.category = t.category.empty() ? "(none)" : std::move(t.category);
    row.tier = t.tier.empty() ? "(none)" : std::move(t.tier);
    row.model = t.model.empty() ? "(none)" : std::move(t.model);
    row.tokens_in = t.tokens_in;
    row.tokens_out = t.tokens_out;
    row.cost_usd = t.cost_usd;
    row.latency_ms = static_cast<double>(t.total_us) / 1000.0;
    row.ok = t.status < 400;
    row.ts_ms = t.ts_ms;
    // What the router picked first: a shadow router's decision when the config knows the
    // model's tier, else the first model call's tier.
    auto shadow = model_tiers.find(t.shadow_target);
    const std::string& picked = !t.shadow_target.empty() && shadow != model_tiers.end()
                                    ? shadow->second
                                    : t.first_call_tier;
    row.reasoning = t.routed ? reasoning_of(picked) : "unknown";
    if (router_versions && !t.router_version.empty()) ++(*router_versions)[t.router_version].first;
    if (router_versions && !t.shadow_router_version.empty()) {
      ++(*router_versions)[t.shadow_router_version].second;
    }
    if (!table.insert(row)) return fail("cannot fill the analysis table: " + db.last_error());
    ++rows;
    return {};
  });
  if (!scanned) return scanned.error();
  if (auto r = table.commit(); !r) return r.error();
  return rows;
}

}  // namespace triage::insights
