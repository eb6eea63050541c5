#include "insights/export.h"

#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace triage::insights {
namespace {

namespace json = boost::json;

using Db = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;
using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

Db open_store(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db db(raw, &sqlite3_close);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(path + ": cannot open the request store: " +
                             (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Stmt prepare(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
    throw std::runtime_error(path + ": " + sqlite3_errmsg(db) +
                             " (a request store of schema version 2 is needed; open it once "
                             "with this build's `triage serve` to migrate it)");
  }
  return Stmt(s, &sqlite3_finalize);
}

std::string col(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

void bind_category(sqlite3_stmt* s, int i, const std::string& category) {
  if (category.empty()) {
    sqlite3_bind_null(s, i);
  } else {
    sqlite3_bind_text(s, i, category.data(), static_cast<int>(category.size()), SQLITE_TRANSIENT);
  }
}

std::ofstream open_out(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write the output file");
  return out;
}

// Text of a message's content: a string, or the text parts of an array joined with "\n".
std::string content_text(const json::value* content) {
  if (!content) return {};
  if (content->is_string()) return std::string(content->as_string());
  std::string text;
  if (content->is_array()) {
    for (const json::value& part : content->as_array()) {
      if (!part.is_object()) continue;
      const json::value* t = part.as_object().if_contains("text");
      if (t && t->is_string()) {
        if (!text.empty()) text += '\n';
        text += t->as_string();
      }
    }
  }
  return text;
}

// The request's messages for a fine-tuning example: role + content only; developer becomes
// system (the fine-tuning format knows system/user/assistant). False when the conversation
// has tool messages or no user message (not a plain chat example).
bool finetune_messages(const std::string& messages_json, json::array& out) {
  boost::system::error_code ec;
  json::value v = json::parse(messages_json, ec);
  if (ec || !v.is_array()) return false;
  bool has_user = false;
  for (const json::value& m : v.as_array()) {
    if (!m.is_object()) return false;
    const json::object& o = m.as_object();
    const json::value* role = o.if_contains("role");
    if (!role || !role->is_string()) return false;
    std::string r(role->as_string());
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant") return false;
    has_user = has_user || r == "user";
    out.push_back(json::object{{"role", r}, {"content", content_text(o.if_contains("content"))}});
  }
  return has_user;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos && !s.empty()) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + '"';
}

int tier_index(const std::vector<std::string>& tiers, const std::string& t) {
  auto it = std::find(tiers.begin(), tiers.end(), t);
  return it == tiers.end() ? -1 : static_cast<int>(it - tiers.begin());
}

// The latest label per request, joined with the request and its payload (LEFT: a missing
// payload is counted, not hidden). labels_request(request_id, id) serves the MAX per request.
constexpr const char* kLatestLabels =
    "SELECT l.request_id, l.verdict, l.sufficient_tier, l.corrected_answer, r.tier, r.category, "
    "p.messages, p.response "
    "FROM labels l "
    "JOIN (SELECT request_id, MAX(id) AS id FROM labels GROUP BY request_id) last ON last.id = l.id "
    "JOIN requests r ON r.request_id = l.request_id "
    "LEFT JOIN prompts p ON p.request_id = l.request_id "
    "WHERE (?1 IS NULL OR r.category = ?1) ORDER BY r.ts_ms, l.request_id";

// Requests with feedback and no label: the latest feedback each.
constexpr const char* kLatestFeedback =
    "SELECT f.request_id, f.score, f.corrected_answer, p.messages, p.response "
    "FROM feedback f "
    "JOIN (SELECT request_id, MAX(id) AS id FROM feedback GROUP BY request_id) last ON last.id = f.id "
    "JOIN requests r ON r.request_id = f.request_id "
    "LEFT JOIN prompts p ON p.request_id = f.request_id "
    "WHERE (?1 IS NULL OR r.category = ?1) "
    "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.request_id = f.request_id) "
    "ORDER BY r.ts_ms, f.request_id";

}  // namespace

std::string last_user_text(const std::string& messages_json) {
  boost::system::error_code ec;
  json::value v = json::parse(messages_json, ec);
  if (ec || !v.is_array()) return {};
  const json::array& a = v.as_array();
  for (auto it = a.rbegin(); it != a.rend(); ++it) {
    if (!it->is_object()) continue;
    const json::value* role = it->as_object().if_contains("role");
    if (role && role->is_string() && role->as_string() == "user")
      return content_text(it->as_object().if_contains("content"));
  }
  return {};
}

bool derive_pair_grades(int sufficient_idx, const std::string& verdict, int answered_idx,
                        int weak_idx, int strong_idx, int& weak_correct, int& strong_correct) {
  if (weak_idx < 0 || strong_idx < 0 || weak_idx > strong_idx) return false;
  if (sufficient_idx >= 0) {  // the reviewer said which tier suffices: both grades follow
    weak_correct = sufficient_idx <= weak_idx ? 1 : 0;
    strong_correct = sufficient_idx <= strong_idx ? 1 : 0;
    return true;
  }
  if (answered_idx < 0) return false;
  // Only the verdict on the tier that answered. Assumed: a tier at least as large as one that
  // answered correctly would too, and one no larger than one that failed would fail too.
  if (verdict == "correct") {
    if (answered_idx > weak_idx) return false;  // the weak tier's grade is unknown
    weak_correct = 1;
    strong_correct = 1;
    return true;
  }
  if (verdict == "incorrect") {
    if (answered_idx < strong_idx) return false;  // the strong tier's grade is unknown
    weak_correct = 0;
    strong_correct = 0;
    return true;
  }
  return false;
}

ExportReport export_finetune(const ExportFinetuneOptions& o) {
  if (o.min_verdict != "correct" && o.min_verdict != "feedback") {
    throw std::runtime_error("--min-verdict must be correct or feedback, got '" + o.min_verdict +
                             "'");
  }
  Db db = open_store(o.store_path);
  std::ofstream out = open_out(o.out_path);
  ExportReport rep;
  auto emit = [&](const std::string& messages_json, const std::string& answer) {
    json::array messages;
    if (!finetune_messages(messages_json, messages)) {
      ++rep.skipped_not_usable;
      return;
    }
    messages.push_back(json::object{{"role", "assistant"}, {"content", answer}});
    out << json::serialize(json::object{{"messages", std::move(messages)}}) << '\n';
    ++rep.written;
  };

  Stmt labels = prepare(db.get(), o.store_path, kLatestLabels);
  bind_category(labels.get(), 1, o.category);
  int rc;
  while ((rc = sqlite3_step(labels.get())) == SQLITE_ROW) {
    sqlite3_stmt* s = labels.get();
    const std::string verdict = col(s, 1);
    const std::string corrected = col(s, 3);
    if (sqlite3_column_type(s, 6) == SQLITE_NULL) {
      ++rep.skipped_no_payload;
      continue;
    }
    if (!corrected.empty()) {
      emit(col(s, 6), corrected);
    } else if (verdict == "correct") {
      emit(col(s, 6), col(s, 7));
    } else {
      ++rep.skipped_not_usable;
    }
  }
  if (rc != SQLITE_DONE) throw std::runtime_error(o.store_path + ": " + sqlite3_errmsg(db.get()));

  if (o.min_verdict == "feedback") {
    Stmt fb = prepare(db.get(), o.store_path, kLatestFeedback);
    bind_category(fb.get(), 1, o.category);
    while ((rc = sqlite3_step(fb.get())) == SQLITE_ROW) {
      sqlite3_stmt* s = fb.get();
      const double score = sqlite3_column_double(s, 1);
      const std::string corrected = col(s, 2);
      if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
        ++rep.skipped_no_payload;
        continue;
      }
      if (!corrected.empty()) {
        emit(col(s, 3), corrected);
      } else if (score >= 0.5) {
        emit(col(s, 3), col(s, 4));
      } else {
        ++rep.skipped_not_usable;
      }
    }
    if (rc != SQLITE_DONE) throw std::runtime_error(o.store_path + ": " + sqlite3_errmsg(db.get()));
  }
  out.flush();
  if (!out) throw std::runtime_error(o.out_path + ": write failed");
  return rep;
}

ExportReport export_labels(const ExportLabelsOptions& o) {
  if (o.format != "routellm") {
    throw std::runtime_error("--format must be routellm, got '" + o.format + "'");
  }
  const std::string weak = o.weak_tier.empty() ? o.tiers.front() : o.weak_tier;
  const std::string strong = o.strong_tier.empty() ? o.tiers.back() : o.strong_tier;
  const int weak_idx = tier_index(o.tiers, weak);
  const int strong_idx = tier_index(o.tiers, strong);
  if (weak_idx < 0 || strong_idx < 0 || weak_idx >= strong_idx) {
    throw std::runtime_error("the weak tier ('" + weak + "') and the strong tier ('" + strong +
                             "') must both be in the tier order, weak first");
  }
  Db db = open_store(o.store_path);
  std::ofstream out = open_out(o.out_path);
  out << "id,prompt,category,weak_correct,strong_correct,sufficient_tier,verdict,answered_tier\n";
  ExportReport rep;
  Stmt labels = prepare(db.get(), o.store_path, kLatestLabels);
  bind_category(labels.get(), 1, o.category);
  int rc;
  while ((rc = sqlite3_step(labels.get())) == SQLITE_ROW) {
    sqlite3_stmt* s = labels.get();
    if (sqlite3_column_type(s, 6) == SQLITE_NULL) {
      ++rep.skipped_no_payload;
      continue;
    }
    const std::string prompt = last_user_text(col(s, 6));
    const std::string verdict = col(s, 1);
    const std::string sufficient = col(s, 2);
    const std::string answered = col(s, 4);
    int w = 0, st = 0;
    if (prompt.empty() ||
        !derive_pair_grades(sufficient.empty() ? -1 : tier_index(o.tiers, sufficient), verdict,
                            tier_index(o.tiers, answered), weak_idx, strong_idx, w, st)) {
      ++rep.skipped_not_usable;
      continue;
    }
    out << csv_field(col(s, 0)) << ',' << csv_field(prompt) << ',' << csv_field(col(s, 5)) << ','
        << w << ',' << st << ',' << csv_field(sufficient) << ',' << csv_field(verdict) << ','
        << csv_field(answered) << '\n';
    ++rep.written;
  }
  if (rc != SQLITE_DONE) throw std::runtime_error(o.store_path + ": " + sqlite3_errmsg(db.get()));
  out.flush();
  if (!out) throw std::runtime_error(o.out_path + ": write failed");
  return rep;
}

int run_export_finetune(const ExportFinetuneOptions& o) {
  try {
    ExportReport r = export_finetune(o);
    std::printf("wrote %lld examples to %s (skipped: %lld without a stored prompt, %lld not "
                "approved or not a plain chat)\n",
                static_cast<long long>(r.written), o.out_path.c_str(),
                static_cast<long long>(r.skipped_no_payload),
                static_cast<long long>(r.skipped_not_usable));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "triage export finetune: %s\n", e.what());
    return 1;
  }
}

int run_export_labels(const ExportLabelsOptions& o) {
  try {
    ExportReport r = export_labels(o);
    std::printf("wrote %lld rows to %s (skipped: %lld without a stored prompt, %lld whose grades "
                "cannot be derived)\n",
                static_cast<long long>(r.written), o.out_path.c_str(),
                static_cast<long long>(r.skipped_no_payload),
                static_cast<long long>(r.skipped_not_usable));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "triage export labels: %s\n", e.what());
    return 1;
  }
}

}  // namespace triage::insights
