#include "ml/prompt_features.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ml/ascii.h"
#include "ml/byte_masks.h"

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

bool contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

// Every match of r'\b(w)\b' for a word w of word characters is a maximal run of word
// characters equal to w (the bytes on both sides are not word characters), so the runs
// (MarkedRuns over ByteMasks::word) answer every such pattern in one pass. A find() per word
// had re-read the text once per word, with a memchr and a memcmp at every occurrence of the
// word's first letter.

// 1 when a word run is "not", "except" or "least", 2 when it is one of them in capitals.
int negation_word(std::string_view run) {
  switch (run.size()) {
    case 3:
      return run == "not" ? 1 : run == "NOT" ? 2 : 0;
    case 5:
      return run == "least" ? 1 : run == "LEAST" ? 2 : 0;
    case 6:
      return run == "except" ? 1 : run == "EXCEPT" ? 2 : 0;
    default:
      return 0;
  }
}

// re.search(r'\b(i+|iv)\b(,| and| only)', s) at a word run: a run of 'i' or "iv" (i+ cannot
// stop early inside a run: \b would fail before the next 'i').
bool roman_run(std::string_view run, std::string_view rest) {
  const bool numeral = run == "iv" || run.find_first_not_of('i') == std::string_view::npos;
  return numeral &&
         (rest.starts_with(",") || rest.starts_with(" and") || rest.starts_with(" only"));
}

// re.match(r'^[\s\$\-\+\(]*[\d\.,/]+\s*(%|[a-zA-Z]{0,6})?\)?\s*$', o). The classes of
// consecutive parts are disjoint, so a greedy scan without backtracking decides it.
bool is_numeric_option(std::string_view o) {
  std::size_t i = 0;
  const std::size_t n = o.size();
  while (i < n &&
         (is_python_space(o[i]) || o[i] == '$' || o[i] == '-' || o[i] == '+' || o[i] == '(')) {
    ++i;
  }
  const std::size_t digits_start = i;
  while (i < n && (is_ascii_digit(o[i]) || o[i] == '.' || o[i] == ',' || o[i] == '/')) ++i;
  if (i == digits_start) return false;
  while (i < n && is_python_space(o[i])) ++i;
  if (i < n && o[i] == '%') {
    ++i;
  } else {
    std::size_t letters = 0;
    while (i < n && is_ascii_alpha(o[i]) && letters < 6) {
      ++i;
      ++letters;
    }
  }
  if (i < n && o[i] == ')') ++i;
  while (i < n && is_python_space(o[i])) ++i;
  return i == n;
}

// A word of an option's set, ordered by a key of its bytes (word_key) and then by the bytes: any
// total order on distinct words serves sets and their intersection, and this one compares two
// integers where comparing the texts called memcmp for every comparison (most of the
// features' time went to sorting and intersecting the four options' words).
struct SetWord {
  uint64_t key;  // word_key(text)
  std::string_view text;
  bool operator<(const SetWord& o) const { return key != o.key ? key < o.key : text < o.text; }
  bool operator==(const SetWord& o) const { return key == o.key && text == o.text; }
};

// A cheap key of a word: its length and its first and last (up to) eight bytes.
uint64_t word_key(std::string_view w) {
  uint64_t head = 0, tail = 0;
  std::memcpy(&head, w.data(), std::min<std::size_t>(w.size(), 8));
  if (w.size() > 8) std::memcpy(&tail, w.data() + w.size() - 8, 8);
  return (head * 0x9e3779b97f4a7c15ull) ^ (tail * 0xc2b2ae3d27d4eb4full) ^ w.size();
}

// Number of words two sorted lists without repeats share.
std::size_t shared_words(const SetWord* a, std::size_t na, const SetWord* b, std::size_t nb) {
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

// What one pass over the question finds.
struct QuestionScan {
  std::size_t words = 0;  // len(str.split())
  std::size_t digits = 0, math = 0, lines = 0, underscores = 0;
  bool negation = false;              // \b(not|except|least)\b
  bool negation_in_capitals = false;  // \b(NOT|EXCEPT|LEAST)\b
};

// Scans `q` 64 bytes at a time; `lower` receives q with ASCII capitals lower-cased.
QuestionScan scan_question(std::string_view q, std::string& lower) {
  QuestionScan s;
  lower.resize(q.size());
  MarkedRuns word_runs;
  auto on_word = [&](std::size_t begin, std::size_t end) {
    const int w = negation_word(q.substr(begin, end - begin));
    s.negation = s.negation || w == 1;
    s.negation_in_capitals = s.negation_in_capitals || w == 2;
  };
  uint64_t space_before = 1;  // the byte before the block is a space (or the text's start)
  for (std::size_t base = 0; base < q.size(); base += 64) {
    const std::size_t len = std::min<std::size_t>(64, q.size() - base);
    const uint64_t valid = block_bits(len);
    const ByteMasks m = byte_masks(q.data() + base, len, kEveryClass, lower.data() + base);
    // A word starts at a non-space byte after a space or the start.
    s.words +=
        static_cast<std::size_t>(std::popcount(~m.space & valid & ((m.space << 1) | space_before)));
    space_before = (m.space >> (len - 1)) & 1;
    s.digits += static_cast<std::size_t>(std::popcount(m.digit));
    s.math += static_cast<std::size_t>(std::popcount(m.math));
    s.lines += static_cast<std::size_t>(std::popcount(m.newline));
    s.underscores += static_cast<std::size_t>(std::popcount(m.underscore));
    word_runs.feed(base, m.word, valid, on_word);
  }
  word_runs.finish(q.size(), on_word);
  return s;
}

// What one pass over the options (joined by spaces, lower-cased) finds.
struct OptionScan {
  bool both_neither = false;  // \b(both|neither)\b
  bool true_false = false;    // \b(true|false|wrong)\b, (and "not wrong")
  bool roman = false;         // \b(i+|iv)\b(,| and| only)
  // The words (str.split()) of the first n options: option i's are
  // words[word_begin[i], word_begin[i + 1]), in text order. Storage reused between calls.
  std::vector<SetWord> words;
  std::vector<std::size_t> word_begin;
};

// `lo`: the options joined by single spaces, option i ending at ends[i]; words are collected
// for the first n.
void scan_options(std::string_view lo, const std::vector<std::size_t>& ends, std::size_t n,
                  OptionScan& out) {
  out.both_neither = out.true_false = out.roman = false;
  out.words.clear();
  out.word_begin.assign(1, 0);
  auto on_word = [&](std::size_t begin, std::size_t end) {
    const std::string_view run = lo.substr(begin, end - begin);
    const std::string_view rest = lo.substr(end);
    switch (run[0]) {
      case 'b':
        out.both_neither = out.both_neither || run == "both";
        break;
      case 'n':
        out.both_neither = out.both_neither || run == "neither";
        break;
      case 't':
      case 'f':
      case 'w':
        out.true_false = out.true_false || ((run == "true" || run == "false" || run == "wrong") &&
                                            rest.starts_with(", "));
        break;
      case 'i':
        out.roman = out.roman || roman_run(run, rest);
        break;
      default:
        break;
    }
  };
  // Words separated by spaces never span two options (single spaces join them).
  std::size_t option = 0;
  auto on_token = [&](std::size_t begin, std::size_t end) {
    for (; option < n && begin >= ends[option]; ++option)
      out.word_begin.push_back(out.words.size());
    if (option < n) {
      const std::string_view w = lo.substr(begin, end - begin);
      out.words.push_back({word_key(w), w});
    }
  };
  MarkedRuns word_runs, tokens;
  for (std::size_t base = 0; base < lo.size(); base += 64) {
    const std::size_t len = std::min<std::size_t>(64, lo.size() - base);
    const uint64_t valid = block_bits(len);
    const ByteMasks m = byte_masks(lo.data() + base, len, kWordClass | kSpaceClass);
    word_runs.feed(base, m.word, valid, on_word);
    tokens.feed(base, ~m.space, valid, on_token);
  }
  word_runs.finish(lo.size(), on_word);
  tokens.finish(lo.size(), on_token);
  for (; option < n; ++option) out.word_begin.push_back(out.words.size());
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

  // The options joined by spaces, lower-cased; option i ends at lo[ends[i]].
  thread_local std::string lo;
  thread_local std::vector<std::size_t> ends;
  lo.clear();
  ends.clear();
  for (std::size_t i = 0; i < opts.size(); ++i) {
    if (i > 0) lo += ' ';
    lo.resize(lo.size() + opts[i].size());
    std::transform(opts[i].begin(), opts[i].end(),
                   lo.end() - static_cast<std::ptrdiff_t>(opts[i].size()), ascii_lower);
    ends.push_back(lo.size());
  }
  const std::size_t n_sets = std::min(opts.size(), kOverlapMaxOptions);
  thread_local OptionScan o;
  scan_options(lo, ends, n_sets, o);
  f[k++] = bool_value(contains(lo, "all of the above") || contains(lo, "all of these"));
  f[k++] = bool_value(contains(lo, "none of the above") || contains(lo, "none of these"));
  f[k++] = bool_value(o.both_neither);
  f[k++] = bool_value(o.true_false);
  f[k++] = bool_value(o.roman);

  thread_local std::string q_lower;
  const QuestionScan qs = scan_question(q, q_lower);
  f[k++] = std::log1p(static_cast<double>(q.size()));
  f[k++] = static_cast<double>(qs.words);
  const double q_len1 = static_cast<double>(q.size()) + 1.0;
  f[k++] = static_cast<double>(qs.digits) / q_len1;
  f[k++] = static_cast<double>(qs.math) / q_len1;
  f[k++] = bool_value(qs.negation || qs.negation_in_capitals);
  f[k++] = bool_value(qs.negation_in_capitals);
  f[k++] = bool_value(contains(q, "Statement 1 |"));
  f[k++] = bool_value(contains(q_lower, "which of the following"));
  f[k++] = static_cast<double>(qs.lines);
  f[k++] = bool_value(qs.underscores > 0);
  std::size_t q_end = q.size();
  while (q_end > 0 && is_python_space(q[q_end - 1])) --q_end;
  f[k++] = bool_value(q_end > 0 && q[q_end - 1] == '?');

  double overlap = 0.0;
  if (opts.size() >= 2) {
    // Each option's distinct words, sorted (the sets of the reference): option i's set is
    // words[begin[i], set_end[i]).
    const std::vector<SetWord>& words = o.words;
    const std::vector<std::size_t>& begin = o.word_begin;
    thread_local std::vector<std::size_t> set_end;
    set_end.resize(n_sets);
    for (std::size_t i = 0; i < n_sets; ++i) {
      const auto first = o.words.begin() + static_cast<std::ptrdiff_t>(begin[i]);
      const auto last = o.words.begin() + static_cast<std::ptrdiff_t>(begin[i + 1]);
      std::sort(first, last);
      set_end[i] = static_cast<std::size_t>(std::unique(first, last) - o.words.begin());
    }
    double sum = 0.0;
    std::size_t pairs = 0;
    for (std::size_t i = 0; i < n_sets; ++i) {
      for (std::size_t j = i + 1; j < n_sets; ++j) {
        const std::size_t size_i = set_end[i] - begin[i];
        const std::size_t size_j = set_end[j] - begin[j];
        const std::size_t inter =
            shared_words(words.data() + begin[i], size_i, words.data() + begin[j], size_j);
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
