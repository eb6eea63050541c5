#include "ml/tfidf_knn.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace triage::ml {

namespace {

// Whitespace as Python's str.isspace() (the reference tokeniser's \s): ASCII and Unicode.
bool is_space_code_point(uint32_t cp) {
  return cp == ' ' || (cp >= '\t' && cp <= '\r') || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 ||
         cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// Lower case for the capitals that occur in prose (Latin-1, Greek, Cyrillic); others unchanged.
uint32_t lower_code_point(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 0x20;
  if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) return cp + 0x20;
  if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) return cp + 0x20;
  if (cp >= 0x410 && cp <= 0x42f) return cp + 0x20;
  if (cp >= 0x400 && cp <= 0x40f) return cp + 0x50;
  return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Decodes the UTF-8 sequence at s[i]; returns its length, or 0 when it is not valid UTF-8.
std::size_t decode_utf8(std::string_view s, std::size_t i, uint32_t& cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2;
    cp = b & 0x1f;
  } else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    cp = b & 0x0f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  if (cp < min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

bool is_lower_letter(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The reference's re.findall(r"[a-z]+|\d+|[^\sa-z\d]", text.lower()): letter runs, digit runs
// and every other non-space character (a UTF-8 code point; an invalid byte stands alone).
std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 0x20);
    if (is_lower_letter(c)) {
      std::string tok;
      while (i < text.size()) {
        char d = text[i];
        if (d >= 'A' && d <= 'Z') d = static_cast<char>(d + 0x20);
        if (!is_lower_letter(d)) break;
        tok += d;
        ++i;
      }
      out.push_back(std::move(tok));
    } else if (is_digit(c)) {
      const std::size_t start = i;
      while (i < text.size() && is_digit(text[i])) ++i;
      out.emplace_back(text.substr(start, i - start));
    } else if (static_cast<unsigned char>(c) < 0x80) {
      if (!is_space_code_point(static_cast<unsigned char>(c))) out.emplace_back(1, c);
      ++i;
    } else {
      uint32_t cp = 0;
      const std::size_t len = decode_utf8(text, i, cp);
      if (len == 0) {
        out.emplace_back(1, c);
        ++i;
        continue;
      }
      i += len;
      if (is_space_code_point(cp)) continue;
      std::string tok;
      append_utf8(tok, lower_code_point(cp));
      out.push_back(std::move(tok));
    }
  }
  return out;
}

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t fnv_extend(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// Term frequencies of the tokens and adjacent-token bigrams "a b", each term keyed by the
// FNV-1a-64 hash of its text (no string is built; with ~10^5 terms a collision has odds of about
// 10^-9), sorted by key.
std::vector<std::pair<uint64_t, uint32_t>> term_counts(std::string_view text) {
  const std::vector<std::string> toks = tokenize(text);
  std::vector<uint64_t> keys;
  keys.reserve(toks.size() * 2);
  for (std::size_t i = 0; i < toks.size(); ++i) {
    const uint64_t h = fnv_extend(kFnvOffset, toks[i]);
    keys.push_back(h);
    if (i + 1 < toks.size()) keys.push_back(fnv_extend(fnv_extend(h, " "), toks[i + 1]));
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::pair<uint64_t, uint32_t>> counts;
  for (uint64_t k : keys) {
    if (!counts.empty() && counts.back().first == k) {
      ++counts.back().second;
    } else {
      counts.emplace_back(k, 1);
    }
  }
  return counts;
}

}  // namespace

TfidfIndex::TfidfIndex(const std::vector<std::string>& documents) : n_docs_(documents.size()) {
  // Pass 1: document frequencies.
  std::unordered_map<uint64_t, uint32_t> df;
  for (const std::string& doc : documents) {
    for (const auto& [term, count] : term_counts(doc)) ++df[term];
  }
  const double n = static_cast<double>(n_docs_);
  // Term ids in sorted key order, so the index does not depend on hash-table iteration order.
  std::vector<std::pair<uint64_t, uint32_t>> kept;
  for (auto& [term, d] : df) {
    if (d >= 2 && static_cast<double>(d) < 0.2 * n) kept.emplace_back(term, d);
  }
  df.clear();
  std::sort(kept.begin(), kept.end());
  idf_.resize(kept.size());
  term_ids_.reserve(kept.size());
  for (std::size_t id = 0; id < kept.size(); ++id) {
    idf_[id] = std::log(n / static_cast<double>(kept[id].second));
    term_ids_.emplace(kept[id].first, static_cast<uint32_t>(id));
  }
  // Pass 2: normalised document vectors, stored as postings in document order.
  postings_.resize(idf_.size());
  for (std::size_t d = 0; d < documents.size(); ++d) {
    const SparseVector v = vectorize(documents[d]);
    for (const auto& [id, w] : v) postings_[id].emplace_back(static_cast<uint32_t>(d), w);
  }
}

TfidfIndex::SparseVector TfidfIndex::vectorize(std::string_view text) const {
  std::vector<std::pair<uint32_t, double>> weights;
  double norm2 = 0.0;
  for (const auto& [term, count] : term_counts(text)) {
    const auto it = term_ids_.find(term);
    if (it == term_ids_.end()) continue;
    const double w = (1.0 + std::log(static_cast<double>(count))) * idf_[it->second];
    weights.emplace_back(it->second, w);
    norm2 += w * w;
  }
  std::sort(weights.begin(), weights.end());
  const double norm = norm2 > 0.0 ? std::sqrt(norm2) : 1.0;
  SparseVector out;
  out.reserve(weights.size());
  for (const auto& [id, w] : weights) out.emplace_back(id, static_cast<float>(w / norm));
  return out;
}

std::vector<Neighbor> TfidfIndex::neighbors(std::string_view text, std::size_t k,
                                            const std::function<bool(std::size_t)>& skip) const {
  std::vector<Neighbor> out;
  if (k == 0 || n_docs_ == 0) return out;
  const SparseVector query = vectorize(text);
  if (query.empty()) return out;
  // Dense accumulator without a branch in the inner loop; every product is positive, so the
  // documents sharing a term are those with a score above zero (one scan of n_docs_ values,
  // cheaper than tracking them while accumulating).
  std::vector<double> scores(n_docs_, 0.0);
  for (const auto& [id, qw] : query) {
    const double x = qw;
    for (const auto& [doc, dw] : postings_[id]) scores[doc] += x * static_cast<double>(dw);
  }
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.index < b.index;
  };
  // The best k in a heap whose front is the worst kept: most documents share some term with
  // the query, and comparing against the worst kept is cheaper than collecting them all.
  out.reserve(k);
  for (uint32_t doc = 0; doc < n_docs_; ++doc) {
    const double s = scores[doc];
    if (s <= 0.0) continue;
    if (out.size() == k && !better({s, doc}, out.front())) continue;
    if (skip && skip(doc)) continue;
    if (out.size() == k) {
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = {s, doc};
    } else {
      out.push_back({s, doc});
    }
    std::push_heap(out.begin(), out.end(), better);
  }
  std::sort_heap(out.begin(), out.end(), better);
  return out;
}

}  // namespace triage::ml
