#include "ml/fasttext_model.h"

#include <fasttext/fasttext.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/clock.h"
#include "ml/text.h"

namespace triage::ml {
namespace {

namespace fs = std::filesystem;

bool ends_with(std::string_view s, std::string_view suffix);

}  // namespace

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

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

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
  return m;
}

std::vector<Prediction> FastTextModel::predict(std::string_view text, int k) const {
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

double label_probability(const FastTextModel& model, std::string_view text,
                         std::string_view label, double if_no_prediction) {
  const auto preds = model.predict(text, static_cast<int>(model.labels().size()));
  if (preds.empty()) return if_no_prediction;
  for (const auto& p : preds) {
    if (p.label == label) return p.probability;
  }
  return 0.0;
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
  args.bucket = spec.word_ngrams > 1 || spec.maxn > 0 ? spec.bucket : 0;
  args.thread = std::max(1, spec.threads);
  args.seed = spec.seed;
  args.verbose = 0;  // fastText prints progress to stderr/stdout otherwise
  args.label = kPrefix;
  const bool quantize = ends_with(spec.out_path, ".ftz");

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
