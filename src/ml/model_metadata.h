#pragma once
// Loading what the `triage train` commands write next to a fastText model: the metadata file
// (ml::metadata_path_for(model): the ml block plus one block per consumer, "router", "scorer",
// "multi_router"). Shared by the serving-side loaders (ml::ThresholdScorer,
// ml::ScorePredictor, ml::AnswerScorer). Start-up only: errors THROW ModelError naming
// the metadata file.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "ml/fasttext_model.h"

namespace triage::ml {

// Which block a loader needs, and the words its errors use.
struct MetadataBlockSpec {
  std::string_view block;    // top-level key: "router"
  std::string_view kind;     // "router" in "router metadata is missing"
  std::string_view trainee;  // "scorer" in "(train the scorer with `...`)"
  std::string_view what;     // "a router scorer" in "this model is not a router scorer"
  std::string_view command;  // "triage train router"
};

// The `spec.block` object of model_path's metadata (a copy). Throws ModelError
//   "<meta>: <kind> metadata is missing (train the <trainee> with `<command>`)" when the file
//   cannot be opened, and
//   "<meta>: no \"<block>\" block; this model is not <what> (train it with `<command>`)" when it
//   is not a JSON object with such an object inside.
boost::json::object read_metadata_block(const std::string& model_path,
                                        const MetadataBlockSpec& spec);

// Router versions (docs/loop.md). The default version of a router trained on data whose
// SHA-256 (hex) is `data_sha256`: "r-" + its first 8 hex digits ("r-1a2b3c4d"); "" when the
// hash is shorter than that.
std::string default_router_version(std::string_view data_sha256);
// The version a router metadata block names: its "version" string; for files written before
// versions existed, default_router_version(its "data_file_sha256"); "" when neither is there.
std::string router_version(const boost::json::object& router_block);

// A JSON number (integer or double) as a double. Throws std::invalid_argument("not a number").
double json_number(const boost::json::value& v);

// Throws ModelError "<meta>: <block>.positive_label \"<label>\" is not a label of <model_path>
// (the metadata belongs to another model)" unless `label` is one of the model's labels.
void require_positive_label(const FastTextModel& model, const std::string& label,
                            const std::string& model_path, std::string_view block);

}  // namespace triage::ml
