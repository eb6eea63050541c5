#include "ml/tfidf_knn.h"

#include "ml/tfidf_scratch.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <bit>
#include <cmath>
#include <span>
#include <stdexcept>
#include <unordered_map>

namespace triage::ml {

namespace {

// Whitespace as Python's str.isspace() (the reference tokeniser's \s): ASCII and Unicode.
constexpr bool is_space_code_point(uint32_t cp) {
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

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t fnv_byte(uint64_t h, unsigned char c) { return (h ^ c) * kFnvPrime; }

// What an ASCII byte is to the tokeniser (bytes >= 0x80 start a UTF-8 sequence).
enum ByteClass : uint8_t { kSpace, kLetter, kDigit, kSymbol, kHigh };
struct ByteTable {
  ByteClass cls[256];
  unsigned char lower[256];  // ASCII capitals lower-cased, every other byte as it is
};
constexpr ByteTable kBytes = [] {
  ByteTable t{};
  for (int c = 0; c < 256; ++c) {
    t.lower[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c + 0x20 : c);
    if (c >= 0x80) {
      t.cls[c] = kHigh;
    } else if (is_space_code_point(static_cast<uint32_t>(c))) {
      t.cls[c] = kSpace;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      t.cls[c] = kLetter;
    } else if (c >= '0' && c <= '9') {
      t.cls[c] = kDigit;
    } else {
      t.cls[c] = kSymbol;
    }
  }
  return t;
}();

// The keys of the terms of `text`, unsorted, with repeats: every token and every pair of
// adjacent tokens "a b", each the FNV-1a-64 hash of its text. Tokens are those of the
// reference's re.findall(r"[a-z]+|\d+|[^\sa-z\d]", text.lower()): letter runs, digit runs and
// every other non-space character (a UTF-8 code point; an invalid byte stands alone). Each
// token's bytes are hashed as they are read, for the token alone and continuing the previous
// token's hash after a space, so no token text is built. `head_keys`, when given, receives how
// many keys come from tokens starting before `head_bytes`: they come first.
void term_keys(std::string_view text, std::vector<uint64_t>& keys, std::size_t head_bytes = 0,
               std::size_t* head_keys = nullptr) {
  keys.clear();
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  bool have_previous = false;
  uint64_t previous = 0;  // hash of the previous token
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = bytes[i];
    const ByteClass cls = kBytes.cls[c];
    if (cls == kSpace) {
      ++i;
      continue;
    }
    if (head_keys && i >= head_bytes) {
      *head_keys = keys.size();
      head_keys = nullptr;
    }
    uint64_t token = kFnvOffset;
    uint64_t pair = fnv_byte(previous, ' ');  // unused without a previous token
    if (cls == kLetter || cls == kDigit) {
      // A run of one class; letters lower-cased.
      do {
        const unsigned char b = kBytes.lower[bytes[i]];
        token = fnv_byte(token, b);
        pair = fnv_byte(pair, b);
        ++i;
      } while (i < n && kBytes.cls[bytes[i]] == cls);
    } else if (cls == kSymbol) {
      token = fnv_byte(token, c);
      pair = fnv_byte(pair, c);
      ++i;
    } else {
      uint32_t cp = 0;
      const std::size_t len = decode_utf8(text, i, cp);
      if (len == 0) {  // not UTF-8: the byte alone
        token = fnv_byte(token, c);
        pair = fnv_byte(pair, c);
        ++i;
      } else {
        i += len;
        if (is_space_code_point(cp)) continue;
        std::string utf8;  // short: fits the small-string buffer, no allocation
        append_utf8(utf8, lower_code_point(cp));
        for (char b : utf8) {
          token = fnv_byte(token, static_cast<unsigned char>(b));
          pair = fnv_byte(pair, static_cast<unsigned char>(b));
        }
      }
    }
    if (have_previous) keys.push_back(pair);
    keys.push_back(token);
    previous = token;
    have_previous = true;
  }
  if (head_keys) *head_keys = keys.size();
}

// Folds repeats of `keys` into (key, count) pairs in order of first occurrence, into `counts`:
// one probe per key into a table of positions (open addressing, at most half full, cleared
// again after), where sorting the keys had cost several times as much. With `head`,
// the counts after the first `n_head` keys are copied there on the way (the head's terms are
// those keys' terms, in the same order).
void count_terms(std::span<const uint64_t> keys, std::vector<uint32_t>& table,
                 std::vector<std::pair<uint64_t, uint32_t>>& counts, std::size_t n_head = 0,
                 std::vector<std::pair<uint64_t, uint32_t>>* head = nullptr) {
  counts.clear();
  std::size_t size = 64;
  while (size < 2 * keys.size()) size *= 2;
  if (table.size() < size) table.assign(size, 0);
  const std::size_t mask = size - 1;
  const int shift = 64 - std::countr_zero(size);
  auto home = [shift](uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> shift; };
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (head && k == n_head) *head = counts;
    const uint64_t key = keys[k];
    std::size_t i = home(key);
    for (; table[i] != 0; i = (i + 1) & mask) {
      if (counts[table[i] - 1].first == key) break;
    }
    if (table[i] != 0) {
      ++counts[table[i] - 1].second;
    } else {
      counts.emplace_back(key, 1);
      table[i] = static_cast<uint32_t>(counts.size());
    }
  }
  if (head && n_head >= keys.size()) *head = counts;
  // Cleared whole: at most four bytes per key, where walking each key's probe chain again
  // mispredicted the chain's end about once a key.
  std::fill(table.begin(), table.begin() + static_cast<std::ptrdiff_t>(size), 0u);
}

// Buckets of TfidfIndex::select_best: a float's exponent and top 5 mantissa bits (3% wide),
// clamped to [2^-31, 2) (similarities are positive and at most 1 plus rounding): monotone in
// the similarity, and a histogram of 4 KB.
using tfidf_detail::kBucketCount;         // 1024 (tfidf_scratch.h: the Scratch sizes by it)
constexpr uint32_t kBucketLow = 96 << 5;  // 2^-31

uint32_t bucket_of(double similarity) {
  const uint32_t b = std::bit_cast<uint32_t>(static_cast<float>(similarity)) >> 18;
  return std::clamp(b, kBucketLow, kBucketLow + kBucketCount - 1) - kBucketLow;
}

// A value at or below every similarity whose bucket is `bucket` or higher: such a similarity
// rounds to a float of at least the bucket's lowest, so it is at least that less half a float
// ulp (2^-24 of it).
double bucket_floor(uint32_t bucket) {
  if (bucket == 0) return 0.0;
  const auto lowest = std::bit_cast<float>((bucket + kBucketLow) << 18);
  return static_cast<double>(lowest) * (1.0 - 0x1p-23);
}

}  // namespace

void tfidf_terms(std::string_view text, TfidfTerms& all) {
  thread_local std::vector<uint64_t> keys;
  thread_local std::vector<uint32_t> table;
  term_keys(text, keys);
  count_terms(keys, table, all.counts);
}

namespace {

// The terms of `text` and of its head (tfidf_terms) whose key `keep` accepts.
template <typename Keep>
void kept_terms(std::string_view text, std::size_t head_bytes, TfidfTerms& all, TfidfTerms& head,
                Keep keep) {
  thread_local std::vector<uint64_t> keys;
  thread_local std::vector<uint32_t> table;
  std::size_t n_head = 0;
  term_keys(text, keys, head_bytes, &n_head);
  std::size_t kept = 0, kept_head = 0;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (k == n_head) kept_head = kept;
    keys[kept] = keys[k];
    kept += keep(keys[k]) ? 1 : 0;
  }
  if (n_head >= keys.size()) kept_head = kept;
  keys.resize(kept);
  count_terms(keys, table, all.counts, kept_head, &head.counts);
}

}  // namespace

void tfidf_terms(std::string_view text, std::size_t head_bytes, TfidfTerms& all,
                 TfidfTerms& head) {
  kept_terms(text, head_bytes, all, head, [](uint64_t) { return true; });
}

void TfidfIndex::terms(std::string_view text, std::size_t head_bytes, TfidfTerms& all,
                       TfidfTerms& head) const {
  // Most keys are of terms no document keeps: counting them cost more than the filter.
  kept_terms(text, head_bytes, all, head, [this](uint64_t key) { return maybe_kept(key); });
}


TfidfIndex::TfidfIndex(const std::vector<std::string>& documents,
                       std::size_t max_postings_per_term)
    : TfidfIndex(std::span<const std::vector<std::string>>(&documents, 1), max_postings_per_term) {}

TfidfIndex::TfidfIndex(std::span<const std::vector<std::string>> fields,
                       std::size_t max_postings_per_term)
    : n_docs_(fields.empty() ? 0 : fields[0].size()),
      max_postings_per_term_(max_postings_per_term) {
  if (fields.empty() || fields.size() > 2) {
    throw std::invalid_argument("TfidfIndex: one or two fields");
  }
  for (const auto& f : fields) {
    if (f.size() != n_docs_) throw std::invalid_argument("TfidfIndex: fields of unequal sizes");
  }
  // A kept term's df is below 0.2 N, and its postings at most df or the cap: 16 bits each.
  if (n_docs_ >= 5 * 65536 || max_postings_per_term_ > 65535) {
    throw std::invalid_argument("TfidfIndex: at most 327,679 documents and 65,535 postings per term");
  }
  const std::size_t n_fields = fields.size();
  const double n = static_cast<double>(n_docs_);
  // Pass 1: document frequencies per field; a term's df in every field, 0 where it is not
  // kept, in key order, so that the index does not depend on hash-table iteration order.
  Scratch s;
  std::unordered_map<uint64_t, std::array<uint16_t, 2>> kept_df;
  field_terms_.assign(n_fields, 0);
  for (std::size_t f = 0; f < n_fields; ++f) {
    std::unordered_map<uint64_t, uint32_t> df;
    for (const std::string& doc : fields[f]) {
      tfidf_terms(doc, s.terms);
      for (const auto& [term, count] : s.terms.counts) ++df[term];
    }
    for (const auto& [term, d] : df) {
      if (d >= 2 && static_cast<double>(d) < 0.2 * n) {
        kept_df[term][f] = static_cast<uint16_t>(d);
        ++field_terms_[f];
      }
    }
  }
  std::vector<std::pair<uint64_t, std::array<uint16_t, 2>>> kept(kept_df.begin(), kept_df.end());
  kept_df.clear();
  std::sort(kept.begin(), kept.end());
  idf_by_df_.assign(1, 0.0);
  for (uint32_t d = 1; static_cast<double>(d) < 0.2 * n; ++d) {
    idf_by_df_.push_back(std::log(n / static_cast<double>(d)));
  }
  std::size_t size = 16;
  while (size * 3 < kept.size() * 4) size *= 2;
  slot_shift_ = 64 - std::countr_zero(size);
  slot_mask_ = size - 1;
  table_.assign(size, Slot{});
  std::vector<uint32_t> slot_of(kept.size());
  for (std::size_t t = 0; t < kept.size(); ++t) {
    const std::size_t slot = find_slot(kept[t].first);
    table_[slot].key = kept[t].first;
    table_[slot].df = kept[t].second;
    slot_of[t] = static_cast<uint32_t>(slot);
  }
  // The filter: 8 to 16 bits per kept term, a false positive for about 1 unkept term in 10.
  std::size_t filter_bits = 64;
  while (filter_bits < 8 * kept.size()) filter_bits *= 2;
  filter_.assign(filter_bits / 64, 0);
  for (const auto& [term, d] : kept) {
    const uint64_t bit = term & (filter_bits - 1);
    filter_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  // Pass 2: normalised document vectors of every field, as postings in document order, a
  // term's lists (one per field) one after the other.
  std::vector<std::vector<std::vector<std::pair<uint32_t, float>>>> by_slot(
      n_fields, std::vector<std::vector<std::pair<uint32_t, float>>>(size));
  for (std::size_t f = 0; f < n_fields; ++f) {
    for (std::size_t d = 0; d < n_docs_; ++d) {
      tfidf_terms(fields[f][d], s.terms);
      find(s.terms, s.slots);
      vectorize(s.terms, s.slots, f, s);
      for (const TermWeight& t : s.vector) {
        by_slot[f][t.slot].emplace_back(static_cast<uint32_t>(d), t.weight);
      }
    }
  }
  const bool narrow = n_docs_ <= 65536;
  list_max_.assign(size * n_fields, 0.0f);
  for (uint32_t slot : slot_of) {
    table_[slot].begin = static_cast<uint32_t>(weights_.size());
    for (std::size_t f = 0; f < n_fields; ++f) {
      auto& list = by_slot[f][slot];
      if (max_postings_per_term_ > 0 && list.size() > max_postings_per_term_) {
        // The documents where the term weighs most, back in document order.
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
          return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        list.resize(max_postings_per_term_);
        std::sort(list.begin(), list.end());
      }
      // Every document with the term has a posting (a weight is at least ln 5 / |vector|, far
      // from rounding to 0), so a list's length follows from the df the slot holds.
      if (list.size() != entry(slot, f).count) {
        throw std::logic_error("TfidfIndex: a posting list's length differs from its df");
      }
      for (const auto& [doc, w] : list) {
        list_max_[slot * n_fields + f] = std::max(list_max_[slot * n_fields + f], w);
        if (narrow) {
          docs16_.push_back(static_cast<uint16_t>(doc));
        } else {
          docs32_.push_back(doc);
        }
        weights_.push_back(w);
      }
      std::vector<std::pair<uint32_t, float>>().swap(list);
    }
  }
}

TfidfIndex::FieldEntry TfidfIndex::entry(std::size_t slot, std::size_t field) const {
  const Slot& t = table_[slot];
  auto count = [this](uint16_t df) {
    return max_postings_per_term_ > 0 && df > max_postings_per_term_
               ? static_cast<uint16_t>(max_postings_per_term_)
               : df;
  };
  FieldEntry e;
  e.begin = t.begin + (field == 1 ? count(t.df[0]) : 0u);
  e.count = count(t.df[field]);
  e.df = t.df[field];
  return e;
}

std::size_t TfidfIndex::find_slot(uint64_t key) const {
  std::size_t slot = home_slot(key);
  while (slot_used(slot) && slot_key(slot) != key) slot = (slot + 1) & slot_mask_;
  return slot;
}

void TfidfIndex::find(const TfidfTerms& terms, TfidfTermSlots& slots) const {
  // Most terms of a text are not kept (bigrams seen once, words in every prompt): the filter,
  // small enough to stay cached, turns most of them away without touching the table.
  auto& found = slots.found_;
  found.clear();
  for (std::size_t i = 0; i < terms.counts.size(); ++i) {
    if (maybe_kept(terms.counts[i].first)) found.emplace_back(static_cast<uint32_t>(i), 0);
  }
  // The table is larger than the caches: ask for every home slot first, so that the misses
  // overlap instead of coming one lookup at a time.
  for (const auto& [i, slot] : found) {
    __builtin_prefetch(&table_[home_slot(terms.counts[i].first)]);
  }
  std::size_t m = 0;
  for (const auto& [i, unused] : found) {
    const std::size_t slot = find_slot(terms.counts[i].first);
    if (slot_used(slot)) found[m++] = {i, static_cast<uint32_t>(slot)};
  }
  found.resize(m);
}

void TfidfIndex::vectorize(const TfidfTerms& terms, const TfidfTermSlots& slots,
                           std::size_t field, Scratch& s) const {
  // Weights and the norm in the terms' order (first occurrence in the text).
  s.weights.clear();
  double norm2 = 0.0;
  for (const auto& [i, slot] : slots.found_) {
    if (i >= terms.counts.size()) break;  // a head: the terms after it are not its own
    assert(terms.counts[i].first == slot_key(slot));
    const FieldEntry e = entry(slot, field);
    if (e.df == 0) continue;  // not kept in this field
    const uint32_t count = terms.counts[i].second;
    const double w =
        (1.0 + (count == 1 ? 0.0 : std::log(static_cast<double>(count)))) * idf_by_df_[e.df];
    s.weights.emplace_back(TermWeight{slot, e.begin, e.count, 0.0f}, w);
    norm2 += w * w;
  }
  const double norm = norm2 > 0.0 ? std::sqrt(norm2) : 1.0;
  // A weight that rounds to 0 would add nothing; dropping it keeps every product a search adds
  // positive (so a document's first posting is when its score leaves 0).
  s.vector.clear();
  for (auto [term, w] : s.weights) {
    term.weight = static_cast<float>(w / norm);
    if (term.weight > 0.0f) s.vector.push_back(term);
  }
}

std::vector<Neighbor> TfidfIndex::neighbors(std::string_view text, std::size_t k,
                                            const std::function<bool(std::size_t)>& skip) const {
  thread_local TfidfTerms terms;
  tfidf_terms(text, terms);
  return neighbors(terms, k, skip);
}

std::vector<Neighbor> TfidfIndex::neighbors(const TfidfTerms& terms, std::size_t k,
                                            const std::function<bool(std::size_t)>& skip) const {
  thread_local TfidfTermSlots slots;
  find(terms, slots);
  return neighbors(terms, slots, 0, k, skip);
}

std::vector<Neighbor> TfidfIndex::neighbors(const TfidfTerms& terms, const TfidfTermSlots& slots,
                                            std::size_t field, std::size_t k,
                                            const std::function<bool(std::size_t)>& skip) const {
  std::vector<Neighbor> out;
  if (k == 0 || n_docs_ == 0) return out;
  if (field >= field_terms_.size()) throw std::out_of_range("TfidfIndex: no such field");
  thread_local Scratch s;
  vectorize(terms, slots, field, s);
  if (s.vector.empty()) return out;
  if (s.scores.size() < n_docs_) {
    s.scores.resize(n_docs_, 0.0);
    s.reached.resize(n_docs_);
    s.buckets.resize(n_docs_);
    s.seen.resize((n_docs_ + 63) / 64, 0);
    s.first_reached.resize(n_docs_);
    s.slot.resize(n_docs_, 0);
  }
  if (k == 1 && !skip) {
    if (docs16_.empty()) {
      nearest(docs32_.data(), field, s, out);
    } else {
      nearest(docs16_.data(), field, s, out);
    }
    return out;
  }
  double floor = 0.0;
  std::size_t n_reached = 0;
  if (docs16_.empty()) {
    n_reached = accumulate(docs32_.data(), s);
    if (!skip && wants_floor(n_reached, k)) floor = score_floor(docs32_.data(), k, s);
  } else {
    n_reached = accumulate(docs16_.data(), s);
    if (!skip && wants_floor(n_reached, k)) floor = score_floor(docs16_.data(), k, s);
  }
  std::size_t n = reached(n_reached, floor, s);
  if (skip) {
    n = static_cast<std::size_t>(
        std::remove_if(s.reached.begin(), s.reached.begin() + static_cast<std::ptrdiff_t>(n),
                       [&skip](const Neighbor& nb) { return skip(nb.index); }) -
        s.reached.begin());
  }
  select_best(s, n, k, out);
  return out;
}

template <typename Doc>
std::size_t TfidfIndex::accumulate(const Doc* docs, Scratch& s) const {
  // Every line of every list the loop below reads, asked for at once (asking for each list's
  // first line only left most of the misses serial).
  for (const TermWeight& e : s.vector) {
    tfidf_detail::prefetch_list(docs + e.begin, weights_.data() + e.begin, e.count);
  }
  // Scores add up term by term in the query vector's order (so the same text gives the same
  // scores bit for bit).
  std::size_t n = 0;
  for (const TermWeight& e : s.vector) {
    n = tfidf_detail::add_postings(e.weight, docs + e.begin, weights_.data() + e.begin, e.count,
                                   s.scores.data(), s.first_reached.data(), n,
                                   [](std::size_t, double) {});
  }
  return n;
}

// Most reached documents share only a common term or two with the query and are far below
// its best k; reading each into the selection cost more than the postings. The final scores
// of a sample of reached documents, those of the query's heaviest terms (the most likely to be
// among the best), give a floor: when the sample holds k distinct documents, the k-th best
// score in it is at most the k-th best overall, and so is the lower edge of its
// select_best bucket, which needs no comparison sort. Gathering stops at 2k documents, so it
// is used for small k only (the serving searches; training asks for hundreds, with `skip`).
template <typename Doc>
double TfidfIndex::score_floor(const Doc* docs, std::size_t k, Scratch& s) const {
  constexpr std::size_t kMaxK = 64;
  if (k > kMaxK) return 0.0;
  const std::size_t want = 2 * k;
  float heaviest = 0.0f;
  for (const auto& tw : s.vector) heaviest = std::max(heaviest, tw.weight);
  uint32_t* sample = s.sample.data();
  uint64_t* seen = s.seen.data();
  std::size_t m = 0;
  // The lists of the terms weighing at least half the heaviest first, then the others.
  for (const bool heavy : {true, false}) {
    for (const TermWeight& e : s.vector) {
      if (m >= want) break;
      if ((e.weight >= 0.5f * heaviest) != heavy) continue;
      for (std::size_t p = 0; p < e.count && m < want; ++p) {
        const std::size_t d = docs[e.begin + p];
        sample[m] = static_cast<uint32_t>(d);
        m += ((seen[d / 64] >> (d % 64)) & 1) ^ 1;
        seen[d / 64] |= uint64_t{1} << (d % 64);
      }
    }
  }
  for (std::size_t i = 0; i < m; ++i) seen[sample[i] / 64] = 0;
  if (m < k) return 0.0;
  uint32_t* counts = s.bucket_counts.data();
  uint32_t low = kBucketCount, high = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const uint32_t b = bucket_of(s.scores[sample[i]]);
    ++counts[b];
    low = std::min(low, b);
    high = std::max(high, b);
  }
  std::size_t above = 0;
  uint32_t cut = high;
  for (; above + counts[cut] < k; --cut) above += counts[cut];
  if (low <= high) std::fill(counts + low, counts + high + 1, 0u);
  return bucket_floor(cut);
}

std::size_t TfidfIndex::reached(std::size_t n_reached, double floor, Scratch& s) const {
  // The reached documents, their scores reset for the next query as they are read, before
  // anything can throw (`skip`); those under `floor` are passed over without a branch
  // (written, not counted).
  double* scores = s.scores.data();
  const uint32_t* first = s.first_reached.data();
  Neighbor* reached = s.reached.data();
  std::size_t n = 0;
  for (std::size_t i = 0; i < n_reached; ++i) {
    const uint32_t doc = first[i];
    const double similarity = scores[doc];
    scores[doc] = 0.0;
    reached[n] = {similarity, doc};
    n += similarity >= floor;
  }
  return n;
}

// The best k of s.reached[0, n) into `out`, best first, by similarity then lower index. A
// comparison sort over the few hundred reached documents (or a heap, or nth_element over a
// buffer) mispredicts a branch on about every other comparison, which cost as much as the
// postings; so the documents are first ordered by bucket_of(similarity), a monotone function,
// with a counting sort (no data-dependent branch), best bucket first. Every document in a
// bucket above the one where the best k end is among them, none below it is, and the
// comparisons left are within buckets (3% wide: a few documents each) and among the documents
// of that last bucket.
void TfidfIndex::select_best(Scratch& s, std::size_t n, std::size_t k,
                             std::vector<Neighbor>& out) {
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.index < b.index;
  };
  const Neighbor* reached = s.reached.data();
  if (n <= k) {
    out.assign(reached, reached + n);
    std::sort(out.begin(), out.end(), better);
    return;
  }
  uint32_t* counts = s.bucket_counts.data();
  uint32_t low = kBucketCount, high = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t b = bucket_of(reached[i].similarity);
    s.buckets[i] = static_cast<uint16_t>(b);
    ++counts[b];
    low = std::min(low, b);
    high = std::max(high, b);
  }
  std::size_t above = 0;
  uint32_t cut = high;  // the lowest bucket that holds one of the best k
  for (; above + counts[cut] < k; --cut) above += counts[cut];
  // Only the buckets from `cut` up are placed: counts[b] becomes where bucket b's documents
  // go, then (after placing them) where they end.
  std::size_t placed = 0;
  for (uint32_t b = high + 1; b-- > cut;) {
    const uint32_t c = counts[b];
    counts[b] = static_cast<uint32_t>(placed);
    placed += c;
  }
  // The documents below `cut` are written to one spare slot past the placed ones, by the
  // index's arithmetic rather than a branch on the bucket.
  out.resize(placed + 1);
  Neighbor* dst = out.data();
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t b = s.buckets[i];
    const bool keep = b >= cut;
    uint32_t& next = counts[keep ? b : cut];
    dst[keep ? next : placed] = reached[i];
    next += keep ? 1 : 0;
  }
  // Buckets above `cut` are sorted whole; in `cut` only the first k - above are needed.
  std::size_t begin = 0;
  for (uint32_t b = high + 1; b-- > cut;) {
    const std::size_t end = counts[b];
    if (b == cut) {
      const auto first = out.begin() + static_cast<std::ptrdiff_t>(begin);
      const auto last = out.begin() + static_cast<std::ptrdiff_t>(end);
      const auto nth = out.begin() + static_cast<std::ptrdiff_t>(k);
      if (nth < last) std::nth_element(first, nth - 1, last, better);
      std::sort(first, std::min(nth, last), better);
    } else if (end - begin > 1) {
      std::sort(out.begin() + static_cast<std::ptrdiff_t>(begin),
                out.begin() + static_cast<std::ptrdiff_t>(end), better);
    }
    begin = end;
  }
  out.resize(k);
  if (low <= high) std::fill(counts + low, counts + high + 1, 0u);
}

}  // namespace triage::ml
