#include "ml/intent_confidence.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ml/datasets.h"
#include "ml/tfidf_knn.h"

namespace triage::ml {

struct IntentConfidence::Neighbors {
  std::vector<std::string> labels;  // of the references, by index
  TfidfIndex index;                 // over the references' texts
  Calibrator agree, disagree;
};

namespace {

std::vector<std::string> texts_of(const std::vector<LabeledExample>& refs) {
  std::vector<std::string> out;
  out.reserve(refs.size());
  for (const auto& r : refs) out.push_back(r.text);
  return out;
}

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open " + what);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

const boost::json::value& member(const boost::json::object& o, std::string_view key,
                                 const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v) throw ModelError(where + ": neighbor_calibration." + std::string(key) + " is missing");
  return *v;
}

}  // namespace

IntentConfidence::IntentConfidence(Calibrator top1) : top1_(std::move(top1)) {}

IntentConfidence::IntentConfidence(Calibrator top1, const std::vector<LabeledExample>& references,
                                   Calibrator agree, Calibrator disagree)
    : top1_(std::move(top1)) {
  if (references.empty()) throw ModelError("neighbor calibration: no reference utterances");
  std::vector<std::string> labels;
  labels.reserve(references.size());
  for (const auto& r : references) labels.push_back(r.label);
  neighbors_ = std::make_shared<const Neighbors>(
      Neighbors{std::move(labels), TfidfIndex(texts_of(references), kIntentNeighborPostingsPerTerm),
                std::move(agree), std::move(disagree)});
}

bool IntentConfidence::nearest_agrees(std::string_view text, std::string_view label) const {
  if (!neighbors_) return false;
  const std::vector<Neighbor> nearest = neighbors_->index.neighbors(text, 1);
  return !nearest.empty() && neighbors_->labels[nearest[0].index] == label;
}

double IntentConfidence::apply(std::string_view text, std::string_view label, double raw) const {
  if (!neighbors_) return top1_.apply(raw);
  return nearest_agrees(text, label) ? neighbors_->agree.apply(raw)
                                     : neighbors_->disagree.apply(raw);
}

std::string IntentConfidence::method_name() const {
  return neighbors_ ? top1_.method_name() + "+neighbor" : top1_.method_name();
}

IntentConfidence IntentConfidence::for_model(const std::string& model_path) {
  const std::string meta_path = metadata_path_for(model_path);
  if (!std::filesystem::exists(meta_path)) return IntentConfidence();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(read_file(meta_path, "model metadata"), ec);
  if (ec || !v.is_object()) throw ModelError(meta_path + ": model metadata is not a JSON object");
  const auto& meta = v.as_object();
  Calibrator top1;
  if (const auto* cal = meta.if_contains("calibration"); cal && !cal->is_null()) {
    top1 = Calibrator::from_json(*cal, meta_path);
  }
  const auto* nb = meta.if_contains("neighbor_calibration");
  if (!nb || nb->is_null()) return IntentConfidence(std::move(top1));
  if (!nb->is_object()) throw ModelError(meta_path + ": neighbor_calibration is not an object");
  const auto& block = nb->as_object();
  const auto& format = member(block, "format", meta_path);
  if (!format.is_string() || format.as_string() != kIntentNeighborFormat) {
    throw ModelError(meta_path + ": neighbor_calibration.format is " +
                     boost::json::serialize(format) + ", this binary reads \"" +
                     std::string(kIntentNeighborFormat) + "\" (retrain the model with " +
                     "`make models`, or use the binary that trained it)");
  }
  const auto& file = member(block, "references", meta_path);
  const auto& sha = member(block, "references_sha256", meta_path);
  if (!file.is_string() || !sha.is_string()) {
    throw ModelError(meta_path +
                     ": neighbor_calibration.{references,references_sha256} must be "
                     "strings");
  }
  const std::string refs_path =
      (std::filesystem::path(model_path).parent_path() / std::string(file.as_string())).string();
  const std::string text = read_file(refs_path, "reference utterances (" + meta_path + ")");
  if (sha256_hex(text) != sha.as_string()) {
    throw ModelError(refs_path + ": the reference utterances do not match " + meta_path +
                     " (neighbor_calibration.references_sha256); retrain the model with "
                     "`make models`");
  }
  Calibrator agree = Calibrator::from_json(member(block, "agree", meta_path), meta_path);
  Calibrator disagree = Calibrator::from_json(member(block, "disagree", meta_path), meta_path);
  return IntentConfidence(std::move(top1), parse_clinc150_jsonl(text, refs_path), std::move(agree),
                          std::move(disagree));
}

void write_intent_references(const std::string& path,
                             const std::vector<LabeledExample>& references) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& r : references) {
    out << boost::json::serialize(boost::json::object{{"text", r.text}, {"intent", r.label}})
        << "\n";
  }
  if (!out) throw ModelError("cannot write the reference utterances " + path);
}

}  // namespace triage::ml
