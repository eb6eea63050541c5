#include "ml/bm25.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "ml/text.h"

namespace triage::ml {

namespace {

// Function words that carry no topic; dropping them keeps "can I ... to my" from outranking
// the one content word a short query has.
const std::set<std::string, std::less<>>& stop_words() {
  static const std::set<std::string, std::less<>> words = {
      "a",    "about", "after", "again", "all",    "am",   "an",    "and",   "any",    "are",
      "as",   "at",    "be",    "been",  "before", "but",  "by",    "can",   "could",  "did",
      "do",   "does",  "for",   "from",  "had",    "has",  "have",  "he",    "her",    "his",
      "how",  "i",     "if",    "in",    "into",   "is",   "it",    "its",   "me",     "my",
      "no",   "not",   "of",    "on",    "or",     "our",  "s",     "she",   "should", "so",
      "than", "that",  "the",   "their", "them",   "then", "there", "these", "they",   "this",
      "to",   "up",    "us",    "was",   "we",     "were", "what",  "when",  "where",  "which",
      "who",  "why",   "will",  "with",  "would",  "you",  "your",  "t",     "ll",     "ve",
      "m",    "d",     "re"};
  return words;
}

}  // namespace

std::vector<std::string> bm25_tokens(std::string_view text) {
  const std::string norm = normalize_text(text);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < norm.size()) {
    size_t j = norm.find(' ', i);
    if (j == std::string::npos) j = norm.size();
    std::string_view tok(norm.data() + i, j - i);
    bool word = false;
    for (char c : tok) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
          static_cast<unsigned char>(c) >= 0x80) {
        word = true;
        break;
      }
    }
    if (word && !stop_words().count(tok)) {
      std::string t(tok);
      // Plural folding: "cards" -> "card", "fees" -> "fee"; not "ss" ("business") nor short
      // words ("bus", "gas").
      if (t.size() > 3 && t.back() == 's' && t[t.size() - 2] != 's') t.pop_back();
      out.push_back(std::move(t));
    }
    i = j + 1;
  }
  return out;
}

size_t Bm25Index::add(std::string_view text) {
  Doc d;
  for (std::string& t : bm25_tokens(text)) {
    ++d.length;
    if (d.tf[t]++ == 0) ++df_[t];
  }
  total_length_ += d.length;
  docs_.push_back(std::move(d));
  return docs_.size() - 1;
}

std::vector<Bm25Hit> Bm25Index::search(std::string_view query, size_t k) const {
  std::vector<Bm25Hit> hits;
  if (docs_.empty() || k == 0) return hits;
  // Every occurrence of a query term adds its score, as in Lucene: a query that repeats a
  // word (a pipeline appending the intent label to the user's text) weighs it more.
  std::map<std::string, int> terms;
  for (std::string& t : bm25_tokens(query)) ++terms[std::move(t)];
  const double n = static_cast<double>(docs_.size());
  const double avg_len = std::max(1.0, static_cast<double>(total_length_) / n);
  std::vector<double> scores(docs_.size(), 0.0);
  for (const auto& [term, query_tf] : terms) {
    auto it = df_.find(term);
    if (it == df_.end()) continue;
    const double df = static_cast<double>(it->second);
    const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (size_t i = 0; i < docs_.size(); ++i) {
      auto f = docs_[i].tf.find(term);
      if (f == docs_[i].tf.end()) continue;
      const double tf = f->second;
      const double len_norm =
          1.0 - params_.b + params_.b * static_cast<double>(docs_[i].length) / avg_len;
      scores[i] += query_tf * idf * tf * (params_.k1 + 1.0) / (tf + params_.k1 * len_norm);
    }
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] > 0) hits.push_back({i, scores[i]});
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [](const Bm25Hit& a, const Bm25Hit& b) { return a.score > b.score; });
  if (hits.size() > k) hits.resize(k);
  return hits;
}

}  // namespace triage::ml
