#include "ml/model_metadata.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace triage::ml {

boost::json::object read_metadata_block(const std::string& model_path,
                                        const MetadataBlockSpec& spec) {
  const std::string meta_path = metadata_path_for(model_path);
  std::ifstream in(meta_path);
  if (!in) {
    throw ModelError(meta_path + ": " + std::string(spec.kind) +
                     " metadata is missing (train the " + std::string(spec.trainee) + " with `" +
                     std::string(spec.command) + "`)");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(buf.str(), ec);
  if (!ec && v.is_object()) {
    if (const auto* b = v.as_object().if_contains(spec.block); b && b->is_object()) {
      return b->as_object();
    }
  }
  throw ModelError(meta_path + ": no \"" + std::string(spec.block) +
                   "\" block; this model is not " + std::string(spec.what) + " (train it with `" +
                   std::string(spec.command) + "`)");
}

std::string default_router_version(std::string_view data_sha256) {
  if (data_sha256.size() < 8) return {};
  return "r-" + std::string(data_sha256.substr(0, 8));
}

std::string router_version(const boost::json::object& router_block) {
  if (const auto* v = router_block.if_contains("version"); v && v->is_string()) {
    return std::string(v->as_string());
  }
  if (const auto* h = router_block.if_contains("data_file_sha256"); h && h->is_string()) {
    return default_router_version(h->as_string());
  }
  return {};
}

double json_number(const boost::json::value& v) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  throw std::invalid_argument("not a number");
}

void require_positive_label(const FastTextModel& model, const std::string& label,
                            const std::string& model_path, std::string_view block) {
  const auto& labels = model.labels();
  if (std::find(labels.begin(), labels.end(), label) == labels.end()) {
    throw ModelError(metadata_path_for(model_path) + ": " + std::string(block) +
                     ".positive_label \"" + label + "\" is not a label of " + model_path +
                     " (the metadata belongs to another model)");
  }
}

}  // namespace triage::ml
