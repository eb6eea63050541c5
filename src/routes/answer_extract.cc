#include "routes/answer_extract.h"

namespace triage::routes {

namespace {

RE2::Options quiet() {
  RE2::Options o;
  o.set_log_errors(false);
  return o;
}

const RE2& option_letter_re() {
  static const RE2 re(
      R"((?i:answer|option|choice)(?:\s+(?i:is))?\s*[:\-]?\s*\(?([A-E])\)?(?:$|[^A-Za-z0-9]))",
      quiet());
  return re;
}
const RE2& bare_letter_re() {
  static const RE2 re(R"(^\s*\(?([A-E])\)?[.)]?\s*$)", quiet());
  return re;
}
// A leading option letter marked as one: "A) Kyle", "D (the sun)", "B. Because", "C: ...";
// not an English article or word ("A chart shows", "I do not").
const RE2& leading_letter_re() {
  static const RE2 re(R"(^\s*\(?([A-E])(?:\)|\.|:|\s*\())", quiet());
  return re;
}
const RE2& number_re() {
  static const RE2 re(R"((-?\$?\d[\d,]*(?:\.\d+)?))", quiet());
  return re;
}

}  // namespace

std::string trim_answer(std::string s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::optional<std::string> last_answer_match(const std::string& text, const RE2& re) {
  std::optional<std::string> found;
  re2::StringPiece input(text);
  const int groups = re.NumberOfCapturingGroups();
  re2::StringPiece m[2];
  size_t pos = 0;
  while (pos <= text.size() &&
         re.Match(input, pos, text.size(), RE2::UNANCHORED, m, groups > 0 ? 2 : 1)) {
    found = std::string(groups > 0 ? m[1] : m[0]);
    const size_t end = static_cast<size_t>(m[0].data() - text.data()) + m[0].size();
    pos = end > pos ? end : pos + 1;
  }
  return found;
}

std::string normalize_number(std::string s) {
  std::string out;
  for (char c : s) {
    if (c != ',' && c != '$') out.push_back(c);
  }
  if (out.find('.') != std::string::npos) {
    while (!out.empty() && out.back() == '0') out.pop_back();
    if (!out.empty() && out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

std::string normalize_answer_text(std::string s) {
  s = trim_answer(std::move(s));
  while (!s.empty() && (s.back() == '.' || s.back() == '!')) s.pop_back();
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::optional<std::string> extract_last_number(const std::string& text) {
  if (auto v = last_answer_match(text, number_re())) return normalize_number(*v);
  return std::nullopt;
}

std::optional<std::string> extract_option_letter(const std::string& text) {
  if (auto v = last_answer_match(text, option_letter_re())) return v;
  std::string letter;
  if (RE2::FullMatch(text, bare_letter_re(), &letter)) return letter;
  if (RE2::PartialMatch(text, leading_letter_re(), &letter)) return letter;
  return std::nullopt;
}

}  // namespace triage::routes
