#include "ml/prompt_features.h"

#include <algorithm>
#include <cmath>
#include <vector>

// The definitions follow the research reference (feats.py; "mcq-v1", and mcq-v2 caps the options
// opt_overlap compares) with hand-written scans in
// place of its regular expressions. Text is handled as BYTES with ASCII rules: lengths count
// bytes, only ASCII letters are lower-cased, only ASCII digits are digits, whitespace is the
// ASCII set Python's str.isspace() accepts (\t \n \v \f \r \x1c-\x1f and space), and a "word"
// character (for \b) is [A-Za-z0-9_]. Bytes >= 0x80 are neither digits, spaces nor word
// characters. Python's str is Unicode-aware, so on prompts with non-ASCII text (code-point
// lengths, U+00A0 as a space, "é" as a word character) the values can differ slightly from the
// reference; training and serving both run this code, so they agree with each other.

namespace triage::ml {

namespace {

bool is_space(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
// One of "=+^*/<>()[]{}".
bool is_math(unsigned char c) {
  static constexpr auto kMath = [] {
    std::array<bool, 256> t{};
    for (char m : std::string_view("=+^*/<>()[]{}")) t[static_cast<unsigned char>(m)] = true;
    return t;
  }();
  return kMath[c];
}

char ascii_lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

// \b before position `pos` / after position `end` when the neighbouring byte inside the match is
// a word character (all the words matched here start and end with one).
bool boundary_before(std::string_view s, std::size_t pos) {
  return pos == 0 || !is_word(static_cast<unsigned char>(s[pos - 1]));
}
bool boundary_after(std::string_view s, std::size_t end) {
  return end >= s.size() || !is_word(static_cast<unsigned char>(s[end]));
}

// re.search(r'\b(w1|w2|...)\b' + suffix, s) for words made of word characters.
bool has_word(std::string_view s, std::initializer_list<std::string_view> words,
              std::string_view suffix = {}) {
  for (std::string_view w : words) {
    for (std::size_t pos = s.find(w); pos != std::string_view::npos; pos = s.find(w, pos + 1)) {
      const std::size_t end = pos + w.size();
      if (boundary_before(s, pos) && boundary_after(s, end) &&
          s.substr(end).substr(0, suffix.size()) == suffix) {
        return true;
      }
    }
  }
  return false;
}

// re.search(r'\b(i+|iv)\b(,| and| only)', s)
bool has_roman(std::string_view s) {
  for (std::size_t p = 0; p < s.size(); ++p) {
    if (s[p] != 'i' || !boundary_before(s, p)) continue;
    std::size_t end = p;
    while (end < s.size() && s[end] == 'i') ++end;
    if (!boundary_after(s, end)) {
      // "i+" failed; the "iv" alternative.
      if (end == p + 1 && end < s.size() && s[end] == 'v' && boundary_after(s, end + 1)) {
        ++end;
      } else {
        continue;
      }
    }
    const std::string_view rest = s.substr(end);
    if (rest.starts_with(",") || rest.starts_with(" and") || rest.starts_with(" only")) {
      return true;
    }
  }
  return false;
}

// re.match(r'^[\s\$\-\+\(]*[\d\.,/]+\s*(%|[a-zA-Z]{0,6})?\)?\s*$', o). The classes of
// consecutive parts are disjoint, so a greedy scan without backtracking decides it.
bool is_numeric_option(std::string_view o) {
  std::size_t i = 0;
  const std::size_t n = o.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(o[k]); };
  while (i < n && (is_space(at(i)) || o[i] == '$' || o[i] == '-' || o[i] == '+' || o[i] == '(')) {
    ++i;
  }
  const std::size_t digits_start = i;
  while (i < n && (is_digit(at(i)) || o[i] == '.' || o[i] == ',' || o[i] == '/')) ++i;
  if (i == digits_start) return false;
  while (i < n && is_space(at(i))) ++i;
  if (i < n && o[i] == '%') {
    ++i;
  } else {
    std::size_t letters = 0;
    while (i < n && is_alpha(at(i)) && letters < 6) {
      ++i;
      ++letters;
    }
  }
  if (i < n && o[i] == ')') ++i;
  while (i < n && is_space(at(i))) ++i;
  return i == n;
}

// str.split(): runs of whitespace separate, no empty pieces; appended to `out`.
void split_whitespace(std::string_view s, std::vector<std::string_view>& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(static_cast<unsigned char>(s[i]))) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
}

// len(str.split()).
std::size_t count_words(std::string_view s) {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = is_space(static_cast<unsigned char>(c));
    words += !space && !in_word ? 1 : 0;
    in_word = !space;
  }
  return words;
}

// needle in s.lower(), for a lower-case needle.
bool contains_lowered(std::string_view s, std::string_view needle) {
  if (needle.size() > s.size()) return false;
  for (std::size_t pos = 0; pos + needle.size() <= s.size(); ++pos) {
    std::size_t j = 0;
    while (j < needle.size() && ascii_lower_char(s[pos + j]) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

// Number of words two sorted lists without repeats share.
std::size_t shared_words(const std::string_view* a, std::size_t na, const std::string_view* b,
                         std::size_t nb) {
  std::size_t i = 0, j = 0, shared = 0;
  while (i < na && j < nb) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++shared;
      ++i;
      ++j;
    }
  }
  return shared;
}

// Non-overlapping occurrences, as str.count.
std::size_t count_occurrences(std::string_view s, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t pos = s.find(needle); pos != std::string_view::npos;
       pos = s.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

// s.split(sep)[1] when sep occurs: the text between its first and second occurrence.
std::string_view after_first(std::string_view s, std::string_view sep) {
  const std::size_t pos = s.find(sep);
  if (pos == std::string_view::npos) return {};
  std::string_view rest = s.substr(pos + sep.size());
  return rest.substr(0, rest.find(sep));
}

struct ParsedPrompt {
  std::string_view question;
  std::vector<std::string_view> options;  // without their "X. " prefix
};

// body = prompt before the last "\nAnswer:"; split at every "\n" followed by "[A-D]. ".
// The result's storage is per thread, valid until the thread's next call.
const ParsedPrompt& parse(std::string_view prompt) {
  thread_local ParsedPrompt out;
  thread_local std::vector<std::size_t> cuts;  // positions of the splitting '\n'
  std::string_view body = prompt;
  if (const std::size_t pos = prompt.rfind("\nAnswer:"); pos != std::string_view::npos) {
    body = prompt.substr(0, pos);
  }
  cuts.clear();
  for (std::size_t i = body.find('\n'); i != std::string_view::npos && i + 3 < body.size();
       i = body.find('\n', i + 1)) {
    if (body[i + 1] >= 'A' && body[i + 1] <= 'D' && body[i + 2] == '.' && body[i + 3] == ' ') {
      cuts.push_back(i);
    }
  }
  out.options.clear();
  if (cuts.empty()) {
    out.question = body;
    return out;
  }
  out.question = body.substr(0, cuts[0]);
  for (std::size_t k = 0; k < cuts.size(); ++k) {
    const std::size_t start = cuts[k] + 1;
    const std::size_t end = k + 1 < cuts.size() ? cuts[k + 1] : body.size();
    out.options.push_back(body.substr(start + 3, end - start - 3));
  }
  return out;
}

double bool_value(bool b) { return b ? 1.0 : 0.0; }

}  // namespace

const std::array<std::string_view, kPromptFeatureCount>& prompt_feature_names() {
  static const std::array<std::string_view, kPromptFeatureCount> names = {
      "opt_numeric", "opt_len_log",  "opt_len_cv",     "opt_maxmin", "all_above",
      "none_above",  "both_neither", "tf_opts",        "roman",      "q_len_log",
      "q_words",     "q_digits",     "q_math",         "q_neg",      "q_negcaps",
      "stmt",        "which",        "q_lines",        "blank",      "q_question_mark",
      "opt_overlap", "ms_len_diff",  "ms_first_person"};
  return names;
}

std::string_view question_stem(std::string_view prompt) {
  return prompt.substr(0, prompt.find("\nA. "));
}

double question_length_log(std::string_view prompt) {
  return std::log1p(static_cast<double>(parse(prompt).question.size()));
}

std::array<double, kPromptFeatureCount> prompt_features(std::string_view prompt) {
  const ParsedPrompt& parsed = parse(prompt);
  const std::string_view q = parsed.question;
  const std::vector<std::string_view>& opts = parsed.options;
  std::array<double, kPromptFeatureCount> f{};
  std::size_t k = 0;

  thread_local std::vector<double> lengths;
  lengths.clear();
  for (std::string_view o : opts) lengths.push_back(static_cast<double>(o.size()));
  if (lengths.empty()) lengths.push_back(0.0);
  const double n_len = static_cast<double>(lengths.size());
  double mean = 0.0;
  for (double l : lengths) mean += l;
  mean /= n_len;
  double var = 0.0;
  for (double l : lengths) var += (l - mean) * (l - mean);
  const double pstdev = std::sqrt(var / n_len);
  const auto [min_it, max_it] = std::minmax_element(lengths.begin(), lengths.end());

  std::size_t numeric = 0;
  for (std::string_view o : opts) numeric += is_numeric_option(o) ? 1 : 0;
  f[k++] =
      static_cast<double>(numeric) / static_cast<double>(std::max<std::size_t>(1, opts.size()));
  f[k++] = std::log1p(mean);
  f[k++] = pstdev / (mean + 1.0);
  f[k++] = std::log((*max_it + 1.0) / (*min_it + 1.0));

  // The options joined by spaces, lower-cased; option i is lo[starts[i], starts[i] + size).
  thread_local std::string lo;
  thread_local std::vector<std::size_t> starts;
  lo.clear();
  starts.clear();
  for (std::size_t i = 0; i < opts.size(); ++i) {
    if (i > 0) lo += ' ';
    starts.push_back(lo.size());
    lo.resize(lo.size() + opts[i].size());
    std::transform(opts[i].begin(), opts[i].end(), lo.end() - static_cast<std::ptrdiff_t>(opts[i].size()),
                   ascii_lower_char);
  }
  f[k++] = bool_value(contains(lo, "all of the above") || contains(lo, "all of these"));
  f[k++] = bool_value(contains(lo, "none of the above") || contains(lo, "none of these"));
  f[k++] = bool_value(has_word(lo, {"both", "neither"}));
  // "not wrong" needs no own case: its "wrong" already matches.
  f[k++] = bool_value(has_word(lo, {"true", "false", "wrong"}, ", "));
  f[k++] = bool_value(has_roman(lo));

  f[k++] = std::log1p(static_cast<double>(q.size()));
  f[k++] = static_cast<double>(count_words(q));
  std::size_t digits = 0;
  std::size_t math = 0;
  for (char c : q) {
    digits += is_digit(static_cast<unsigned char>(c)) ? 1 : 0;
    math += is_math(static_cast<unsigned char>(c)) ? 1 : 0;
  }
  const double q_len1 = static_cast<double>(q.size()) + 1.0;
  f[k++] = static_cast<double>(digits) / q_len1;
  f[k++] = static_cast<double>(math) / q_len1;
  const bool negation_in_capitals = has_word(q, {"NOT", "EXCEPT", "LEAST"});
  f[k++] = bool_value(negation_in_capitals || has_word(q, {"not", "except", "least"}));
  f[k++] = bool_value(negation_in_capitals);
  f[k++] = bool_value(contains(q, "Statement 1 |"));
  f[k++] = bool_value(contains_lowered(q, "which of the following"));
  f[k++] = static_cast<double>(std::count(q.begin(), q.end(), '\n'));
  f[k++] = bool_value(contains(q, "_"));
  std::size_t q_end = q.size();
  while (q_end > 0 && is_space(static_cast<unsigned char>(q[q_end - 1]))) --q_end;
  f[k++] = bool_value(q_end > 0 && q[q_end - 1] == '?');

  double overlap = 0.0;
  if (opts.size() >= 2) {
    // Each option's distinct lower-cased words, sorted (the sets of the reference).
    thread_local std::vector<std::string_view> words;
    thread_local std::vector<std::size_t> word_begin;  // option i: words[word_begin[i], [i + 1])
    words.clear();
    word_begin.assign(1, 0);
    const std::size_t n_sets = std::min(opts.size(), kOverlapMaxOptions);
    for (std::size_t i = 0; i < n_sets; ++i) {
      split_whitespace(std::string_view(lo).substr(starts[i], opts[i].size()), words);
      const auto first = words.begin() + static_cast<std::ptrdiff_t>(word_begin.back());
      std::sort(first, words.end());
      words.erase(std::unique(first, words.end()), words.end());
      word_begin.push_back(words.size());
    }
    double sum = 0.0;
    std::size_t pairs = 0;
    for (std::size_t i = 0; i < n_sets; ++i) {
      for (std::size_t j = i + 1; j < n_sets; ++j) {
        const std::size_t size_i = word_begin[i + 1] - word_begin[i];
        const std::size_t size_j = word_begin[j + 1] - word_begin[j];
        const std::size_t inter = shared_words(words.data() + word_begin[i], size_i,
                                               words.data() + word_begin[j], size_j);
        const std::size_t uni = size_i + size_j - inter;
        sum += static_cast<double>(inter) / static_cast<double>(uni == 0 ? 1 : uni);
        ++pairs;
      }
    }
    overlap = sum / static_cast<double>(pairs);
  }
  f[k++] = overlap;

  double ms_len_diff = 0.0;
  double ms_first_person = 0.0;
  if (contains(q, "Scenario 1 |")) {
    std::string_view s1 = after_first(q, "Scenario 1 |");
    s1 = s1.substr(0, s1.find("Scenario 2 |"));
    const std::string_view s2 = after_first(q, "Scenario 2 |");
    const double l1 = static_cast<double>(s1.size());
    const double l2 = static_cast<double>(s2.size());
    ms_len_diff = std::abs(l1 - l2) / (l1 + l2 + 1.0);
    ms_first_person =
        static_cast<double>(count_occurrences(s1, " I ") + count_occurrences(s2, " I "));
  }
  f[k++] = ms_len_diff;
  f[k++] = ms_first_person;
  return f;
}

}  // namespace triage::ml
