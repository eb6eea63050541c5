#include "ml/fasttext_model.h"

#include <fasttext/fasttext.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "ml/text.h"

namespace triage::ml {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw ModelError("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

namespace {

namespace fs = std::filesystem;

// Optional metadata check: a model trained with other normalisation rules must not load.
void check_metadata(const std::string& model_path) {
  std::string meta_path = metadata_path_for(model_path);
  std::ifstream in(meta_path);
  if (!in) return;
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(buf.str(), ec);
  if (ec || !v.is_object()) throw ModelError(meta_path + ": model metadata is not a JSON object");
  const auto* fv = v.as_object().if_contains("features_version");
  if (fv && fv->is_string() && fv->as_string() != kFeaturesVersion) {
    throw ModelError(model_path + ": trained with feature normalisation \"" +
                     std::string(fv->as_string()) + "\" but this build uses \"" +
                     std::string(kFeaturesVersion) + "\"; retrain it (make models)");
  }
}

}  // namespace

// ---- Prediction from the matrices ------------------------------------------------------------
// What fastText 0.9.2 does for a prediction (Dictionary::getLine, Model::computeHidden,
// SoftmaxLoss::computeOutput, Loss::findKBest, FastText::predictLine), with the same float
// and double operations in the same order, so that the results are equal bit for bit:
//   - tokens: the line split at whitespace, then "</s>"; a token that starts with the label
//     prefix is a label (no word, no n-gram); a word's id comes from the dictionary, an unknown
//     word has none (no character n-grams here) but its hash still takes part in word n-grams;
//   - word n-grams: h = hash(i) sign-extended to 64 bits, h = h * 116049371 + hash(j) for the
//     next n - 1 words, each giving the id nwords + h % bucket;
//   - hidden = float sum of the input rows in input order, times float(1.0 / ids);
//   - output[i] = float dot product of output row i and hidden, j ascending; softmax with
//     float(exp(double(o - max))) and a float sum; a probability is reported as
//     expf(float(log(double(p) + 1e-5))).
// The element-wise sums run on 4-float vectors, which changes no result: each element still
// adds the same terms in the same order (no FMA contraction: ISO C++ mode, baseline x86-64).

namespace {

constexpr std::string_view kEndOfLine = "</s>";  // fastText's Dictionary::EOS

// fastText's Dictionary::hash: FNV-1a 32 over the bytes as SIGNED chars.
uint32_t fasttext_hash(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(c)));
    h *= 16777619u;
  }
  return h;
}

// fastText's std_log (computed in double, stored as float).
float fasttext_log(float p) { return static_cast<float>(std::log(static_cast<double>(p) + 1e-5)); }

using Float4 = float __attribute__((vector_size(16)));

// out[0..dim) = the sum of the rows, each element adding the rows in their order from +0.0f,
// as fastText adds them (so the same result bit for bit). Four elements at a time across every
// row, the partial sums in a register: adding row after row into memory stored and reloaded
// the whole sum for every row.
void sum_rows(const std::vector<const float*>& rows, std::size_t dim, float* out) {
  std::size_t j = 0;
  for (; j + 4 <= dim; j += 4) {
    Float4 acc = {0.0f, 0.0f, 0.0f, 0.0f};
    for (const float* row : rows) {
      Float4 r;
      std::memcpy(&r, row + j, sizeof r);
      acc += r;
    }
    std::memcpy(out + j, &acc, sizeof acc);
  }
  for (; j < dim; ++j) {
    float acc = 0.0f;
    for (const float* row : rows) acc += row[j];
    out[j] = acc;
  }
}

}  // namespace

// A set of words with their lookup, shared by every vocabulary made of the same words: models
// trained on the same texts have the same words, though often in another id order (fastText
// sorts them by count, and ties fall as they may), so a FastTextInput looks its tokens up once
// per distinct set and each vocabulary maps the result to its own ids.
class FastTextWords {
 public:
  explicit FastTextWords(std::vector<std::string> sorted_words) {
    offsets_.push_back(0);
    for (const auto& w : sorted_words) {
      chars_ += w;
      offsets_.push_back(static_cast<uint32_t>(chars_.size()));
    }
    std::size_t n = 16;
    while (n < 2 * sorted_words.size()) n *= 2;
    slots_.assign(n, Slot{0, -1});
    for (std::size_t i = 0; i < sorted_words.size(); ++i) {
      const uint32_t h = fasttext_hash(sorted_words[i]);
      std::size_t slot = h & (n - 1);
      while (slots_[slot].index >= 0) slot = (slot + 1) & (n - 1);
      slots_[slot] = Slot{h, static_cast<int32_t>(i)};
    }
  }

  // The one table of this set of words among every model loaded so far (thread-safe; load time).
  static std::shared_ptr<const FastTextWords> intern(std::vector<std::string> words) {
    std::sort(words.begin(), words.end());
    static std::mutex mu;
    static std::vector<std::weak_ptr<const FastTextWords>> known;  // guarded by mu
    std::lock_guard lock(mu);
    std::erase_if(known, [](const auto& w) { return w.expired(); });
    for (const auto& w : known) {
      if (auto table = w.lock(); table && table->equals(words)) return table;
    }
    auto table = std::make_shared<const FastTextWords>(std::move(words));
    known.push_back(table);
    return table;
  }

  std::size_t size() const { return offsets_.size() - 1; }
  std::string_view word(std::size_t i) const {
    return std::string_view(chars_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  // Index of `word` (whose fastText hash is h), or -1.
  int32_t find(std::string_view word, uint32_t h) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = h & mask;; slot = (slot + 1) & mask) {
      const Slot& s = slots_[slot];
      if (s.index < 0) return -1;
      if (s.hash == h && this->word(static_cast<std::size_t>(s.index)) == word) return s.index;
    }
  }

 private:
  bool equals(const std::vector<std::string>& sorted_words) const {
    if (sorted_words.size() != size()) return false;
    for (std::size_t i = 0; i < size(); ++i) {
      if (sorted_words[i] != word(i)) return false;
    }
    return true;
  }
  struct Slot {
    uint32_t hash;
    int32_t index;  // -1: empty
  };
  std::string chars_;              // the words, sorted, back to back
  std::vector<uint32_t> offsets_;  // word i is chars_[offsets_[i], offsets_[i + 1])
  std::vector<Slot> slots_;        // open addressing by fastText hash, linear probing
};

// The part of a fastText dictionary a prediction reads: word -> id, the label prefix and the
// word n-gram settings.
class FastTextVocabulary {
 public:
  FastTextVocabulary(const std::vector<std::string>& words, std::string label_prefix,
                     int word_ngrams, int bucket)
      : words_(FastTextWords::intern(words)),
        label_prefix_(std::move(label_prefix)),
        word_ngrams_(static_cast<std::size_t>(std::max(word_ngrams, 1))),
        bucket_(bucket),
        nwords_(static_cast<int32_t>(words.size())) {
    id_of_.resize(words.size());
    for (std::size_t id = 0; id < words.size(); ++id) {
      id_of_[static_cast<std::size_t>(words_->find(words[id], fasttext_hash(words[id])))] =
          static_cast<int32_t>(id);
    }
  }

  // Dictionary::getLine + addWordNgrams for the input's tokens.
  void input_ids(const FastTextInput& in, std::vector<int32_t>& ids,
                 std::vector<int32_t>& word_hashes) const {
    const std::vector<int32_t>& found = in.cached(words_.get(), [&](std::vector<int32_t>& out) {
      for (std::size_t t = 0; t < in.tokens_.size(); ++t) {
        out.push_back(words_->find(in.tokens_[t], in.hashes_[t]));
      }
    });
    ids.clear();
    word_hashes.clear();
    const bool ngrams = word_ngrams_ > 1;  // else the word hashes are not needed
    for (std::size_t t = 0; t < in.tokens_.size(); ++t) {
      const std::string_view token = in.tokens_[t];
      // A label has no word and no n-gram (the first byte turns away most words cheaply).
      if (token.size() >= label_prefix_.size() &&
          (label_prefix_.empty() || token[0] == label_prefix_[0]) &&
          token.starts_with(label_prefix_)) {
        continue;
      }
      if (found[t] >= 0) ids.push_back(id_of_[static_cast<std::size_t>(found[t])]);
      if (ngrams) word_hashes.push_back(static_cast<int32_t>(in.hashes_[t]));
    }
    for (std::size_t i = 0; i < word_hashes.size(); ++i) {
      auto h = static_cast<uint64_t>(static_cast<int64_t>(word_hashes[i]));
      for (std::size_t j = i + 1; j < word_hashes.size() && j < i + word_ngrams_; ++j) {
        h = h * 116049371 + static_cast<uint64_t>(static_cast<int64_t>(word_hashes[j]));
        ids.push_back(nwords_ + static_cast<int32_t>(h % static_cast<uint64_t>(bucket_)));
      }
    }
  }

 private:
  std::shared_ptr<const FastTextWords> words_;
  std::vector<int32_t> id_of_;  // index in words_ -> this dictionary's word id
  std::string label_prefix_;
  std::size_t word_ngrams_;
  int bucket_;
  int32_t nwords_;
};

struct FastTextModel::Fast {
  std::shared_ptr<const FastTextVocabulary> vocabulary;
  std::shared_ptr<const fasttext::DenseMatrix> input;  // (words + buckets) x dim
  std::vector<float> output_by_dim;                    // output matrix transposed: [j][label]
  std::size_t dim = 0;
  std::size_t labels = 0;
};

FastTextInput::FastTextInput(std::string_view text) {
  // The normalisation says where its tokens end: no second pass to split at the spaces.
  thread_local std::vector<uint32_t> ends;
  normalize_text(text, normalized_, &ends);
  if (normalized_.empty()) return;
  tokens_.reserve(ends.size() + 1);
  hashes_.reserve(ends.size() + 1);
  uint32_t begin = 0;
  for (const uint32_t end : ends) {
    const std::string_view token(normalized_.data() + begin, end - begin);
    tokens_.push_back(token);
    hashes_.push_back(fasttext_hash(token));
    begin = end + 1;
  }
  tokens_.push_back(kEndOfLine);
  hashes_.push_back(fasttext_hash(kEndOfLine));
}

std::string metadata_path_for(const std::string& model_path) { return model_path + ".json"; }

FastTextModel::~FastTextModel() = default;

std::shared_ptr<const FastTextModel> FastTextModel::load(const std::string& path) {
  if (!fs::is_regular_file(path)) {
    throw ModelError("fastText model " + path + " does not exist (or is not a file)");
  }
  check_metadata(path);
  std::shared_ptr<FastTextModel> m(new FastTextModel());
  m->path_ = path;
  m->ft_ = std::make_unique<fasttext::FastText>();
  try {
    m->ft_->loadModel(path);
  } catch (const std::exception& e) {
    throw ModelError("cannot load fastText model " + path + ": " + e.what());
  }
  fasttext::Args args = m->ft_->getArgs();
  if (args.model != fasttext::model_name::sup) {
    throw ModelError(path + " is a fastText word-vector model, not a classifier");
  }
  m->label_prefix_ = args.label;
  auto dict = m->ft_->getDictionary();
  for (int32_t i = 0; i < dict->nlabels(); ++i) {
    std::string label = dict->getLabel(i);
    if (label.rfind(m->label_prefix_, 0) == 0) label.erase(0, m->label_prefix_.size());
    m->labels_.push_back(std::move(label));
  }
  if (m->labels_.empty()) throw ModelError(path + ": the model has no labels");
  // The fast path covers dense softmax models without character n-grams (and so unpruned).
  const bool covered = !m->ft_->isQuant() && args.loss == fasttext::loss_name::softmax &&
                       args.maxn <= 0 && (args.wordNgrams <= 1 || args.bucket > 0);
  if (covered) {
    auto fast = std::make_unique<Fast>();
    std::vector<std::string> words;
    for (int32_t i = 0; i < dict->nwords(); ++i) words.push_back(dict->getWord(i));
    fast->vocabulary =
        std::make_shared<const FastTextVocabulary>(words, args.label, args.wordNgrams, args.bucket);
    fast->input = m->ft_->getInputMatrix();
    const auto output = m->ft_->getOutputMatrix();
    fast->dim = static_cast<std::size_t>(args.dim);
    fast->labels = m->labels_.size();
    const int64_t input_rows = dict->nwords() + (args.wordNgrams > 1 ? args.bucket : 0);
    if (fast->input->rows() >= input_rows && fast->input->cols() == args.dim &&
        output->rows() == static_cast<int64_t>(fast->labels) && output->cols() == args.dim) {
      fast->output_by_dim.resize(fast->dim * fast->labels);
      for (std::size_t i = 0; i < fast->labels; ++i) {
        for (std::size_t j = 0; j < fast->dim; ++j) {
          fast->output_by_dim[j * fast->labels + i] =
              output->at(static_cast<int64_t>(i), static_cast<int64_t>(j));
        }
      }
      m->fast_ = std::move(fast);
    }
  }
  return m;
}

std::optional<std::size_t> FastTextModel::label_index(std::string_view label) const {
  for (std::size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] == label) return i;
  }
  return std::nullopt;
}

bool FastTextModel::softmax(const FastTextInput& input, std::vector<float>& out) const {
  const Fast& f = *fast_;
  thread_local std::vector<int32_t> ids, word_hashes;
  f.vocabulary->input_ids(input, ids, word_hashes);
  if (ids.empty()) return false;
  const float* rows = f.input->data();
  // The rows are spread over a matrix larger than the caches: ask for them all first, so
  // that their misses overlap.
  const std::size_t row_bytes = f.dim * sizeof(float);
  thread_local std::vector<const float*> row_of;
  row_of.clear();
  for (int32_t id : ids) {
    const float* row = rows + static_cast<std::size_t>(id) * f.dim;
    row_of.push_back(row);
    const char* bytes = reinterpret_cast<const char*>(row);
    for (std::size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(bytes + b);
  }
  thread_local std::vector<float> hidden;
  hidden.resize(f.dim);
  sum_rows(row_of, f.dim, hidden.data());
  const auto scale = static_cast<float>(1.0 / static_cast<double>(ids.size()));
  for (float& h : hidden) h *= scale;
  out.assign(f.labels, 0.0f);
  for (std::size_t j = 0; j < f.dim; ++j) {
    const float* column = f.output_by_dim.data() + j * f.labels;
    std::size_t i = 0;
    const Float4 h = {hidden[j], hidden[j], hidden[j], hidden[j]};
    for (; i + 4 <= f.labels; i += 4) {
      Float4 acc, w;
      std::memcpy(&acc, out.data() + i, sizeof acc);
      std::memcpy(&w, column + i, sizeof w);
      acc += w * h;
      std::memcpy(out.data() + i, &acc, sizeof acc);
    }
    for (; i < f.labels; ++i) out[i] += column[i] * hidden[j];
  }
  float max = out[0];
  for (float o : out) max = std::max(o, max);
  float z = 0.0f;
  for (float& o : out) {
    o = static_cast<float>(std::exp(static_cast<double>(o - max)));
    z += o;
  }
  for (float& o : out) o /= z;
  return true;
}

double FastTextModel::label_probability(const FastTextInput& input, std::string_view label,
                                        double if_no_prediction) const {
  if (input.empty()) return if_no_prediction;
  if (!fast_) {
    // Every label is reported (k = all, threshold 0).
    const auto preds = predict_reference(input.normalized_, static_cast<int>(labels_.size()));
    for (const auto& p : preds) {
      if (p.label == label) return p.probability;
    }
    return preds.empty() ? if_no_prediction : 0.0;
  }
  thread_local std::vector<float> out;
  if (!softmax(input, out)) return if_no_prediction;
  const auto index = label_index(label);
  return index ? static_cast<double>(std::exp(fasttext_log(out[*index]))) : 0.0;
}

std::vector<Prediction> FastTextModel::predict(std::string_view text, int k) const {
  if (!fast_) return predict_reference(text, k);
  std::vector<Prediction> out;
  if (k <= 0) return out;
  const FastTextInput input(text);
  if (input.empty()) return out;
  thread_local std::vector<float> probs;
  if (!softmax(input, probs)) return out;
  // Loss::findKBest and its sort, as the library runs them (ties included).
  using Scored = std::pair<float, int32_t>;
  auto worse_first = [](const Scored& l, const Scored& r) { return l.first > r.first; };
  std::vector<Scored> heap;
  heap.reserve(static_cast<std::size_t>(k) + 1);
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] < 0.0f) continue;  // fastText's threshold 0
    const float lp = fasttext_log(probs[i]);
    if (heap.size() == static_cast<std::size_t>(k) && lp < heap.front().first) continue;
    heap.emplace_back(lp, static_cast<int32_t>(i));
    std::push_heap(heap.begin(), heap.end(), worse_first);
    if (heap.size() > static_cast<std::size_t>(k)) {
      std::pop_heap(heap.begin(), heap.end(), worse_first);
      heap.pop_back();
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse_first);
  out.reserve(heap.size());
  for (const auto& [lp, i] : heap) {
    out.push_back(
        Prediction{labels_[static_cast<std::size_t>(i)], static_cast<double>(std::exp(lp))});
  }
  return out;
}

std::vector<Prediction> FastTextModel::predict_reference(std::string_view text, int k) const {
  std::vector<Prediction> out;
  if (k <= 0) return out;
  // The trailing newline gives the line the end-of-sentence token it had at training time.
  std::string features = normalize_text(text);
  if (features.empty()) return out;
  features.push_back('\n');
  std::istringstream in(std::move(features));
  std::vector<std::pair<fasttext::real, std::string>> preds;
  ft_->predictLine(in, preds, k, 0.0);
  out.reserve(preds.size());
  for (auto& [prob, label] : preds) {
    if (label.rfind(label_prefix_, 0) == 0) label.erase(0, label_prefix_.size());
    out.push_back(Prediction{std::move(label), static_cast<double>(prob)});
  }
  return out;
}

double label_probability(const FastTextModel& model, std::string_view text, std::string_view label,
                         double if_no_prediction) {
  return model.label_probability(FastTextInput(text), label, if_no_prediction);
}

double accuracy(const FastTextModel& model, const std::vector<LabeledExample>& examples) {
  if (examples.empty()) return 0.0;
  int64_t correct = 0;
  for (const auto& ex : examples) {
    auto p = model.predict(ex.text, 1);
    if (!p.empty() && p[0].label == ex.label) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(examples.size());
}

}  // namespace triage::ml
