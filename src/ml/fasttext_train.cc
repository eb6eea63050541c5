// Supervised training through fastText's library (ml::train_classifier): the normalised
// training file, the hashed n-gram table sized to the data, the model and its metadata.
#include <fasttext/fasttext.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/clock.h"
#include "ml/fasttext_model.h"
#include "ml/text.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;

// A temporary file removed on destruction (fastText's trainer reads its input from a path).
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string tmpl = (fs::temp_directory_path() / "triage-train-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw ModelError("cannot create a temporary file in " + tmpl);
    path_ = tmpl;
    std::size_t off = 0;
    while (off < contents.size()) {
      ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
      if (n <= 0) {
        ::close(fd);
        throw ModelError("cannot write the temporary training file " + path_);
      }
      off += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

int hashed_ngram_rows(std::string_view data, int word_ngrams, int maxn, int bucket) {
  if (maxn > 0) return bucket;  // character n-grams: as many as the words' lengths allow
  if (word_ngrams <= 1) return 0;
  // A line is its label, its words and the end-of-line token fastText adds, so it has as many
  // tokens as whitespace-separated pieces (the label stands in for </s>). A line of t tokens
  // has at most t - 1 n-grams of each order 2..word_ngrams; t per order is counted, an upper
  // bound (the table may come out a little larger, never smaller).
  int64_t tokens = 0;
  bool after_space = true;
  for (char c : data) {
    const bool space = c == ' ' || c == '\n';
    tokens += !space && after_space ? 1 : 0;
    after_space = space;
  }
  const int64_t ngrams = tokens * (word_ngrams - 1);
  const int64_t rows = std::max<int64_t>(kMinHashedRows, kHashedRowsPerNgram * ngrams);
  return static_cast<int>(std::min<int64_t>(bucket, rows));
}

TrainResult train_classifier(const TrainSpec& spec) {
  if (spec.out_path.empty()) throw ModelError("train_classifier: no output path");
  if (spec.train.empty()) throw ModelError(spec.out_path + ": no training examples");

  // The normalised training file: one "__label__<label> <text>" line per example.
  static const std::string kPrefix = "__label__";
  std::string data;
  std::set<std::string> labels;
  for (std::size_t i = 0; i < spec.train.size(); ++i) {
    const auto& ex = spec.train[i];
    if (ex.label.empty() ||
        ex.label.find_first_of(" \t\r\n\v\f") != std::string::npos) {
      throw ModelError(spec.out_path + ": training example " + std::to_string(i + 1) +
                       " has an empty label or a label with whitespace: \"" + ex.label + "\"");
    }
    labels.insert(ex.label);
    data += kPrefix;
    data += ex.label;
    data += ' ';
    data += normalize_text(ex.text);
    data += '\n';
  }
  TrainResult result;
  result.model_path = spec.out_path;
  result.metadata_path = metadata_path_for(spec.out_path);
  result.n_train = static_cast<int64_t>(spec.train.size());
  result.n_validation = static_cast<int64_t>(spec.validation.size());
  result.data_sha256 = sha256_hex(data);

  fs::path out_dir = fs::path(spec.out_path).parent_path();
  if (!out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) throw ModelError("cannot create directory " + out_dir.string() + ": " + ec.message());
  }

  TempFile input(data);
  fasttext::Args args;
  args.input = input.path();
  args.output = spec.out_path;
  args.model = fasttext::model_name::sup;
  args.loss = fasttext::loss_name::softmax;
  args.epoch = spec.epoch;
  args.lr = spec.lr;
  args.wordNgrams = spec.word_ngrams;
  args.dim = spec.dim;
  args.minCount = spec.min_count;
  args.minn = spec.minn;  // 0/0: no character n-grams (as `fasttext supervised`)
  args.maxn = spec.maxn;
  if ((spec.word_ngrams > 1 || spec.maxn > 0) && spec.bucket <= 0) {
    // fastText would hash n-grams modulo 0.
    throw ModelError(spec.out_path + ": bucket must be positive with word or character "
                     "n-grams, got " + std::to_string(spec.bucket));
  }
  args.bucket = hashed_ngram_rows(data, spec.word_ngrams, spec.maxn, spec.bucket);
  args.thread = std::max(1, spec.threads);
  args.seed = spec.seed;
  args.verbose = 0;  // fastText prints progress to stderr/stdout otherwise
  args.label = kPrefix;
  const bool quantize = spec.out_path.ends_with(".ftz");

  fasttext::FastText ft;
  auto start = SteadyClock::now();
  try {
    ft.train(args);
    if (quantize) {
      fasttext::Args qargs = args;
      qargs.qnorm = true;
      qargs.retrain = false;
      qargs.cutoff = 0;
      qargs.dsub = 2;
      ft.quantize(qargs);
    }
  } catch (const std::exception& e) {
    throw ModelError(spec.out_path + ": fastText training failed: " + e.what());
  }
  result.train_seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  try {
    ft.saveModel(spec.out_path);
  } catch (const std::exception& e) {
    throw ModelError("cannot write model " + spec.out_path + ": " + e.what());
  }

  // Evaluate through the same load/predict path that serving uses.
  auto dict = ft.getDictionary();
  for (int32_t i = 0; i < dict->nlabels(); ++i) {
    result.labels.push_back(dict->getLabel(i).substr(kPrefix.size()));
  }
  if (!spec.validation.empty()) {
    // The metadata is written after this; load() tolerates its absence.
    std::error_code ec;
    fs::remove(result.metadata_path, ec);  // a stale one from an older model must not interfere
    auto model = FastTextModel::load(spec.out_path);
    result.validation_accuracy = accuracy(*model, spec.validation);
  }

  boost::json::object meta;
  meta["format"] = "triage-fasttext/1";
  meta["features_version"] = std::string(kFeaturesVersion);
  boost::json::array label_array;
  for (const auto& l : result.labels) label_array.emplace_back(l);
  meta["labels"] = std::move(label_array);
  meta["n_labels"] = static_cast<int64_t>(result.labels.size());
  meta["n_train"] = result.n_train;
  meta["n_validation"] = result.n_validation;
  if (result.validation_accuracy) {
    meta["validation_accuracy"] = *result.validation_accuracy;
  } else {
    meta["validation_accuracy"] = nullptr;
  }
  meta["data_sha256"] = result.data_sha256;
  meta["train_seconds"] = result.train_seconds;
  meta["created_unix_ms"] = unix_time_ms();
  meta["quantized"] = quantize;
  meta["hyperparameters"] = boost::json::object{
      {"epoch", spec.epoch},         {"lr", spec.lr},       {"wordNgrams", spec.word_ngrams},
      {"dim", spec.dim},             {"minCount", spec.min_count}, {"bucket", args.bucket},
      {"minn", spec.minn},           {"maxn", spec.maxn},
      {"loss", "softmax"},           {"threads", args.thread},     {"seed", spec.seed}};
  std::ofstream out(result.metadata_path, std::ios::trunc);
  out << boost::json::serialize(meta) << "\n";
  if (!out) throw ModelError("cannot write model metadata " + result.metadata_path);
  return result;
}

}  // namespace triage::ml
