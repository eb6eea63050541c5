#include "telemetry/store_rows.h"

namespace triage::telemetry {

std::vector<std::string> split_list(const std::string& joined, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find(sep, start);
    if (end == std::string::npos) end = joined.size();
    if (end > start) out.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

const char* dimension_key_sql(Dimension d) {
  switch (d) {
    case Dimension::kTier:
      return "COALESCE(NULLIF(tier, ''), '(none)')";
    case Dimension::kRoute:
      return "COALESCE(NULLIF(route, ''), '(none)')";
    case Dimension::kCategory:
      return "COALESCE(NULLIF(category, ''), '(none)')";
    case Dimension::kCohort:
      return "COALESCE(NULLIF(cohort, ''), '(none)')";
    case Dimension::kModel:
      return "COALESCE(NULLIF(model, ''), '(none)')";
    case Dimension::kKey:  // `requests` only (not a rollup column)
      return "COALESCE(NULLIF(api_key_name, ''), NULLIF(api_key_id, ''), '(none)')";
    case Dimension::kApi:  // `requests` only; NULL: a row from before the column (chat)
      return "COALESCE(NULLIF(api, ''), 'chat')";
    case Dimension::kNone:
      break;
  }
  return "'all'";
}

}  // namespace triage::telemetry
