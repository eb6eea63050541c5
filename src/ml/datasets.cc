#include "ml/datasets.h"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

namespace triage::ml {

std::vector<LabeledExample> parse_clinc150_jsonl(std::string_view text, const std::string& source) {
  std::vector<LabeledExample> out;
  int64_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto where = [&] { return source + ":" + std::to_string(line_no) + ": "; };
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    if (ec) throw ModelError(where() + "invalid JSON: " + ec.message());
    if (!v.is_object()) throw ModelError(where() + "expected a JSON object");
    const auto& obj = v.as_object();
    const auto* text_field = obj.if_contains("text");
    const auto* intent = obj.if_contains("intent");
    if (!text_field || !text_field->is_string()) {
      throw ModelError(where() + "missing string field \"text\"");
    }
    if (!intent || !intent->is_string()) {
      throw ModelError(where() + "missing string field \"intent\"");
    }
    out.push_back(LabeledExample{std::string(text_field->as_string()),
                                 std::string(intent->as_string())});
  }
  return out;
}

std::vector<LabeledExample> load_clinc150_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open CLINC150 JSON lines file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ModelError(path + ": read error");
  return parse_clinc150_jsonl(text.str(), path);
}

}  // namespace triage::ml
