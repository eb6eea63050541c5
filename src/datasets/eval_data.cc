#include "datasets/eval_data.h"

#include <boost/json.hpp>
#include <fstream>
#include <stdexcept>

#include "datasets/dataset_rows.h"

namespace triage::datasets {

namespace {

namespace json = boost::json;

// JSON lines: the first non-blank byte opens an object.
bool is_json_lines(const std::string& path) {
  std::ifstream in(path);
  char c = 0;
  while (in.get(c)) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c == '{';
  }
  return false;
}

// Tolerant: lines without a string "text" and a non-empty string "intent" are counted.
std::vector<IntentRow> read_intent_rows(const std::string& path, int64_t& invalid) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("dataset " + path + " cannot be opened");
  std::vector<IntentRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    const json::value* text = o ? o->if_contains("text") : nullptr;
    const json::value* intent = o ? o->if_contains("intent") : nullptr;
    if (!text || !intent || !text->is_string() || !intent->is_string() ||
        intent->as_string().empty()) {
      ++invalid;
      continue;
    }
    rows.push_back({std::string(text->as_string()), std::string(intent->as_string())});
  }
  return rows;
}

}  // namespace

EvalData read_eval_data(const std::string& path) {
  EvalData data;
  data.path = path;
  data.sha256 = eval_dataset_sha256(path);
  if (is_json_lines(path)) {
    data.format = DatasetFormat::kIntentLines;
    data.intents = read_intent_rows(path, data.invalid_intent_rows);
    if (data.intents.empty()) throw std::runtime_error(path + ": no rows with a text and an intent");
    return data;
  }
  data.table = read_csv_file(path);
  data.format = routerbench_models(data.table.header).empty() ? DatasetFormat::kGraded
                                                              : DatasetFormat::kMultiModel;
  return data;
}

}  // namespace triage::datasets
