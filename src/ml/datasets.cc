#include "ml/datasets.h"

#include <boost/json.hpp>
#include <fstream>

namespace triage::ml {

std::vector<LabeledExample> load_clinc150_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ModelError(path + ": cannot open CLINC150 JSON lines file");
  std::vector<LabeledExample> out;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = [&] { return path + ":" + std::to_string(line_no) + ": "; };
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    if (ec) throw ModelError(where() + "invalid JSON: " + ec.message());
    if (!v.is_object()) throw ModelError(where() + "expected a JSON object");
    const auto& obj = v.as_object();
    const auto* text = obj.if_contains("text");
    const auto* intent = obj.if_contains("intent");
    if (!text || !text->is_string()) throw ModelError(where() + "missing string field \"text\"");
    if (!intent || !intent->is_string()) {
      throw ModelError(where() + "missing string field \"intent\"");
    }
    out.push_back(LabeledExample{std::string(text->as_string()),
                                 std::string(intent->as_string())});
  }
  if (in.bad()) throw ModelError(path + ": read error");
  return out;
}

}  // namespace triage::ml
