#pragma once
// fastText text classifiers: loading and predicting (request path) and training (offline /
// `triage train`). fastText headers stay inside fasttext_model.cc and fasttext_train.cc.
//
// Errors: load() and train_classifier() run at start-up or offline and THROW ModelError with
// the file path in the message. predict() never throws for any input text.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fasttext {
class FastText;
}

namespace triage::ml {

// Lower-case hex SHA-256 of `data`. Throws ModelError if OpenSSL fails.
std::string sha256_hex(std::string_view data);

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Prediction {
  std::string label;         // without fastText's "__label__" prefix
  double probability = 0.0;  // softmax probability, 0..1
};

class FastTextVocabulary;

// A text as fastText's predictor reads it (normalize_text, split at spaces, then the
// end-of-line token), prepared once and scored by any number of models: several models of
// one request (a multi-model predictor) tokenise and hash it once, and models trained on the
// same texts (same words, FastTextModel::load finds them) look its words up once. Not
// thread-safe (it caches the lookups); use one per request and thread.
class FastTextInput {
 public:
  explicit FastTextInput(std::string_view text);
  FastTextInput(const FastTextInput&) = delete;  // tokens_ point into normalized_
  FastTextInput& operator=(const FastTextInput&) = delete;
  // True when the normalised text is empty: no model predicts anything for it.
  bool empty() const { return tokens_.empty(); }

 private:
  friend class FastTextModel;
  friend class FastTextVocabulary;
  // The vector `fill` computes for `key`, computed once per input.
  template <typename Fill>
  const std::vector<int32_t>& cached(const void* key, Fill fill) const {
    for (const auto& [k, v] : cache_) {
      if (k == key) return v;
    }
    auto& entry = cache_.emplace_back(key, std::vector<int32_t>{});
    fill(entry.second);
    return entry.second;
  }
  std::string normalized_;
  std::vector<std::string_view> tokens_;  // into normalized_, then "</s>"
  std::vector<uint32_t> hashes_;          // fastText's hash of each token
  // Per set of words looked up: each token's index in it (-1: not a word of it).
  mutable std::vector<std::pair<const void*, std::vector<int32_t>>> cache_;
};

// A loaded supervised fastText model. Immutable after load().
//
// Threading: predict() may be called concurrently from any number of threads. The fast path
// below reads only the matrices and its vocabulary and keeps its scratch per thread; fastText's
// FastText::predict/predictLine are const, read only the model (dictionary, matrices), and keep
// their per-call scratch (Model::State: hidden/output vectors, the heap of predictions) on the
// caller's stack; FastText has no mutable members touched by that path. unit_ml checks it with
// concurrent predictions against a single-threaded reference.
// Cost: predictions of dense softmax models without character n-grams (every model `triage
// train` writes) are computed here from the model's matrices, with fastText's own arithmetic
// in the same order, so they equal the library's bit for bit (unit_ml checks it against
// predict_reference on every shipped model): one pass over the tokens, one hash probe per
// word, a row sum and a softmax, about a microsecond for the shipped routers
// (bench/micro/router_score_bench.cc). Other models (quantised .ftz, other losses, character
// n-grams) go through fastText's predictLine, several times slower.
class FastTextModel {
 public:
  // Loads a .bin or .ftz file. Throws ModelError naming the path if it is missing, not a
  // fastText model, not a supervised model, or if its metadata JSON (path + ".json", optional)
  // says it was trained with a different feature normalisation than this binary's.
  static std::shared_ptr<const FastTextModel> load(const std::string& path);

  ~FastTextModel();
  FastTextModel(const FastTextModel&) = delete;
  FastTextModel& operator=(const FastTextModel&) = delete;

  // Top-k labels for `text` (normalised with normalize_text first), best first. Empty when the
  // normalised text is empty; text made only of unknown words gets the model's prior.
  std::vector<Prediction> predict(std::string_view text, int k = 1) const;
  // P(`label`) for the input, as the free label_probability() below: `if_no_prediction` when
  // the model predicts nothing (the input is empty or has no known word), 0 when `label` is
  // not one of the model's labels.
  double label_probability(const FastTextInput& input, std::string_view label,
                           double if_no_prediction) const;
  // The same as predict(), through fastText's own predictLine: the reference the fast path is
  // tested against, and the path of models the fast path does not cover.
  std::vector<Prediction> predict_reference(std::string_view text, int k = 1) const;

  const std::vector<std::string>& labels() const { return labels_; }
  const std::string& path() const { return path_; }
  // True when predictions are computed from the matrices (see Cost above).
  bool fast() const { return fast_ != nullptr; }

 private:
  struct Fast;
  FastTextModel() = default;
  // Softmax probabilities of every label (fastText's State::output) into `out`; false when the
  // input gives no input id.
  bool softmax(const FastTextInput& input, std::vector<float>& out) const;
  std::optional<std::size_t> label_index(std::string_view label) const;
  std::unique_ptr<fasttext::FastText> ft_;
  std::unique_ptr<const Fast> fast_;  // null: predictLine
  std::vector<std::string> labels_;  // without prefix, in fastText's order (by frequency)
  std::string label_prefix_;
  std::string path_;
};

struct LabeledExample {
  std::string text;   // raw text; normalised by the trainer
  std::string label;  // no whitespace
};

// Hyperparameters of a supervised model (fastText names in comments). Defaults suit short
// requests (intents, routing prompts): bigrams, small dimension, softmax loss.
struct TrainSpec {
  std::vector<LabeledExample> train;
  std::vector<LabeledExample> validation;  // optional; accuracy is reported when non-empty
  std::string out_path;  // ".ftz" => product-quantized (smaller, slightly less accurate)
  int epoch = 25;        // -epoch
  double lr = 0.5;       // -lr
  int word_ngrams = 2;   // -wordNgrams
  int dim = 50;          // -dim
  int min_count = 1;     // -minCount
  int minn = 0;          // -minn: shortest character n-gram (0: none; helps with typos)
  int maxn = 0;          // -maxn: longest character n-gram (0: none)
  // -bucket: hashed n-gram rows at most (hashed_ngram_rows sizes the table to the data);
  // memory = (words + bucket) * dim * 4 B
  int bucket = 200000;
  int threads = 2;  // -thread: more threads train faster but not reproducibly
  int seed = 0;     // -seed
};

struct TrainResult {
  std::string model_path;
  std::string metadata_path;
  std::vector<std::string> labels;
  int64_t n_train = 0;
  int64_t n_validation = 0;
  std::optional<double> validation_accuracy;  // top-1, when validation examples were given
  double train_seconds = 0.0;                 // fastText training only (not I/O, not eval)
  std::string data_sha256;                    // of the normalised training file (labels + text)
};

// Rows of fastText's hashed word n-gram table (-bucket) for a normalised training file `data`
// ("__label__x words" lines): never more than `bucket`; below it, kHashedRowsPerNgram rows per
// n-gram the data can hold (so a training n-gram shares its row with another at most 1 time
// in 16), and at least kMinHashedRows. A table sized for large data is mostly empty on a few
// hundred prompts, yet is allocated, initialised and written whole (docs/performance.md,
// "Training time"). 0 without word n-grams; `bucket` unchanged with character n-grams.
inline constexpr int64_t kHashedRowsPerNgram = 16;
inline constexpr int64_t kMinHashedRows = 1024;
int hashed_ngram_rows(std::string_view data, int word_ngrams, int maxn, int bucket);

// Trains in-process (blocking, CPU-bound: never on an I/O thread), writes the model and the
// metadata JSON (metadata_path_for(out_path)): labels, counts, validation accuracy, data hash,
// feature version, hyperparameters, creation time. fastText's own output is silenced.
// Throws ModelError (empty data, a label with whitespace, unwritable path, fastText failure).
TrainResult train_classifier(const TrainSpec& spec);

// Where the metadata of a model file lives: model_path + ".json".
std::string metadata_path_for(const std::string& model_path);

// Top-1 accuracy of `model` on `examples` (0 when empty).
double accuracy(const FastTextModel& model, const std::vector<LabeledExample>& examples);

// P(`label`) for `text` among all of the model's labels: 0 when fastText does not report it
// (a probability too small to list), `if_no_prediction` when it predicts nothing (the
// normalised text is empty). Never throws; thread-safe as predict().
double label_probability(const FastTextModel& model, std::string_view text,
                         std::string_view label, double if_no_prediction);

}  // namespace triage::ml
