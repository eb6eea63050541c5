#include "output/output_format.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "ml/fasttext_model.h"

namespace triage::output {

namespace json = boost::json;

json::value json_or_null(const std::optional<double>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

std::string pct_or(const std::optional<double>& share, std::string_view missing) {
  return share ? fmt::format("{:.1f}%", *share * 100) : std::string(missing);
}

json::object read_json_object(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return json::parse(buf.str()).as_object();
}

void write_json_object(const std::string& path, const json::object& o) {
  std::ofstream out(path, std::ios::trunc);
  out << json::serialize(o) << "\n";
  if (!out) throw ml::ModelError("cannot write " + path);
}

}  // namespace triage::output
