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

class Importer {
 public:
  Importer(sqlite3* db, const LogImportContext& ctx) : db_(db), ctx_(ctx) {}
  ~Importer() { sqlite3_finalize(insert_); }

  Result<void> begin() {
    char* err = nullptr;
    const std::string sql = std::string(kCreateTable) + "; BEGIN";
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      return fail("cannot create the analysis table: " + m);
    }
    if (sqlite3_prepare_v2(db_, "INSERT INTO r VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)", -1,
                           &insert_, nullptr) != SQLITE_OK) {
      return fail(std::string("cannot prepare the insert: ") + sqlite3_errmsg(db_));
    }
    return {};
  }

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
    const int64_t tin = tokens_in ? static_cast<int64_t>(*tokens_in) : core::estimate_tokens(*prompt);
    const int64_t tout = tokens_out ? static_cast<int64_t>(*tokens_out)
                         : response ? core::estimate_tokens(*response)
                                    : 0;
    if (!cost) {
      if (!m) return bad(where, fmt::format("cost_usd: missing (and no -c price for model '{}')", *model));
      cost = config::cost_usd(m->prices, tin, tout);
    }
    std::string tier_name = tier && !tier->empty() ? *tier : m ? m->tier : "(unknown)";
    bool ok = true;
    if (ok_flag) ok = *ok_flag;
    else if (status) ok = *status < 400;
    else if (error) ok = error->empty();
    std::string reasoning = "unknown";
    if (prompt && ctx_.router) {
      const double p = ctx_.router->score(*prompt, category.value_or(""));
      reasoning = p >= ctx_.router_threshold ? "complex" : "simple";
    } else if (prompt) {
      reasoning = std::string(estimate_reasoning(*prompt).klass);
    }
    const std::string cat = category && !category->empty() ? *category : "(none)";
    const std::string ctx_class(context_class(tin));
    sqlite3_reset(insert_);
    sqlite3_bind_text(insert_, 1, cat.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_, 2, tier_name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_, 3, model->c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert_, 4, tin);
    sqlite3_bind_int64(insert_, 5, tout);
    sqlite3_bind_double(insert_, 6, *cost);
    if (latency) sqlite3_bind_double(insert_, 7, *latency);
    else sqlite3_bind_null(insert_, 7);
    sqlite3_bind_int(insert_, 8, ok ? 1 : 0);
    sqlite3_bind_text(insert_, 9, ctx_class.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_, 10, reasoning.c_str(), -1, SQLITE_TRANSIENT);
    if (ts) sqlite3_bind_int64(insert_, 11, static_cast<int64_t>(*ts));
    else sqlite3_bind_null(insert_, 11);
    if (sqlite3_step(insert_) != SQLITE_DONE) return bad(where, sqlite3_errmsg(db_));
    ++stats_.rows;
  }

  Result<LogImportStats> commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail(std::string("cannot commit the analysis table: ") + sqlite3_errmsg(db_));
    }
    return stats_;
  }

 private:
  sqlite3* db_;
  const LogImportContext& ctx_;
  sqlite3_stmt* insert_ = nullptr;
  LogImportStats stats_;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Result<LogImportStats> import_log(sqlite3* db, const std::string& path,
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

Result<void> create_store_view(sqlite3* db, const std::vector<std::string>& tiers,
                               const std::map<std::string, std::string>& model_tiers) {
  auto quote = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  };
  // A router deciding in shadow (route span "shadow decision: TARGET (...)", see the shadow
  // route's decide_only) says what it would have picked: TARGET's tier, from the config's
  // catalog. Otherwise the first model call's tier of a request with a routing decision is what
  // the router predicted before any escalation; without one (pass-through) it says nothing.
  std::string shadow_tier = "CASE substr(d, 18, instr(substr(d, 18) || ' ', ' ') - 1)";
  for (const auto& [model, tier] : model_tiers) {
    shadow_tier += fmt::format(" WHEN {} THEN {}", quote(model), quote(tier));
  }
  shadow_tier += " END";
  std::string reasoning = fmt::format(
      "CASE COALESCE((SELECT {} FROM (SELECT json_extract(value, '$.detail') AS d "
      "FROM json_each(spans) WHERE json_extract(value, '$.kind') = 'route' "
      "AND json_extract(value, '$.detail') LIKE 'shadow decision: %' LIMIT 1)), "
      "(SELECT json_extract(value, '$.tier') FROM json_each(spans) "
      "WHERE json_extract(value, '$.kind') = 'model_call' LIMIT 1), '')",
      model_tiers.empty() ? std::string("NULL") : shadow_tier);
  for (size_t i = 0; i < tiers.size(); ++i) {
    const char* klass = i == 0 ? "simple" : i + 1 == tiers.size() ? "complex" : "moderate";
    reasoning += fmt::format(" WHEN {} THEN '{}'", quote(tiers[i]), klass);
  }
  reasoning += " ELSE 'unknown' END";
  const std::string sql = fmt::format(
      "CREATE TEMP TABLE r AS SELECT "
      "COALESCE(category, '(none)') AS category, "
      "COALESCE(tier, (SELECT json_extract(value, '$.tier') FROM json_each(spans) "
      "  WHERE json_extract(value, '$.kind') = 'model_call' ORDER BY key DESC LIMIT 1), "
      "  '(none)') AS tier, "
      "COALESCE(model, '(none)') AS model, tokens_in, tokens_out, cost_usd, "
      "total_us / 1000.0 AS latency_ms, (status < 400) AS ok, "
      "CASE WHEN tokens_in < {} THEN '<1K' WHEN tokens_in <= {} THEN '1K-8K' ELSE '>8K' END AS ctx, "
      "CASE WHEN instr(spans, '\"kind\":\"route\"') = 0 THEN 'unknown' ELSE {} END AS reasoning, "
      "ts_ms FROM main.requests",
      kShortContextMax, kMediumContextMax, reasoning);
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    return fail("--store: not a Triage request store: " + m);
  }
  return {};
}

}  // namespace triage::insights
