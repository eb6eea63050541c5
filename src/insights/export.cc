#include "insights/export.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "telemetry/store_reader.h"

namespace triage::insights {
namespace {

namespace json = boost::json;

// The store's reader; throws std::runtime_error naming the file when it cannot be opened.
std::unique_ptr<telemetry::StoreReader> open_store(const std::string& path) {
  auto r = telemetry::open_store_reader(path);
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r.value());
}

template <typename T>
T or_throw(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r.value());
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
  auto store = open_store(o.store_path);
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

  for (const telemetry::LabeledRequest& l : or_throw(store->latest_labels(o.category))) {
    if (!l.messages_json) {
      ++rep.skipped_no_payload;
    } else if (!l.corrected_answer.empty()) {
      emit(*l.messages_json, l.corrected_answer);
    } else if (l.verdict == "correct") {
      emit(*l.messages_json, l.response);
    } else {
      ++rep.skipped_not_usable;
    }
  }
  if (o.min_verdict == "feedback") {
    for (const telemetry::FeedbackOnlyRequest& f :
         or_throw(store->latest_unlabeled_feedback(o.category))) {
      if (!f.messages_json) {
        ++rep.skipped_no_payload;
      } else if (!f.corrected_answer.empty()) {
        emit(*f.messages_json, f.corrected_answer);
      } else if (f.score >= 0.5) {
        emit(*f.messages_json, f.response);
      } else {
        ++rep.skipped_not_usable;
      }
    }
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
  auto store = open_store(o.store_path);
  const std::vector<telemetry::LabeledRequest> labels = or_throw(store->latest_labels(o.category));
  std::ofstream out = open_out(o.out_path);
  out << "id,prompt,category,weak_correct,strong_correct,sufficient_tier,verdict,answered_tier\n";
  ExportReport rep;
  for (const telemetry::LabeledRequest& l : labels) {
    if (!l.messages_json) {
      ++rep.skipped_no_payload;
      continue;
    }
    const std::string prompt = last_user_text(*l.messages_json);
    int w = 0, st = 0;
    if (prompt.empty() ||
        !derive_pair_grades(l.sufficient_tier.empty() ? -1 : tier_index(o.tiers, l.sufficient_tier),
                            l.verdict, tier_index(o.tiers, l.answered_tier), weak_idx, strong_idx,
                            w, st)) {
      ++rep.skipped_not_usable;
      continue;
    }
    out << csv_field(l.request_id) << ',' << csv_field(prompt) << ',' << csv_field(l.category)
        << ',' << w << ',' << st << ',' << csv_field(l.sufficient_tier) << ','
        << csv_field(l.verdict) << ',' << csv_field(l.answered_tier) << '\n';
    ++rep.written;
  }
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
