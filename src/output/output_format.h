#pragma once
// Small helpers shared by the offline commands' reports and model metadata: optional numbers
// in JSON and text, and whole-file JSON objects.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace triage::output {

// The number, or JSON null.
boost::json::value json_or_null(const std::optional<double>& v);

// "12.3%" (a share given as 0..1), or `missing` when there is none.
std::string pct_or(const std::optional<double>& share, std::string_view missing);

// Parses the JSON object in a file (model metadata). Throws what boost::json throws when the
// file is unreadable or not a JSON object.
boost::json::object read_json_object(const std::string& path);

// Writes `o` compactly plus a newline, replacing the file. Throws ml::ModelError
// "cannot write <path>".
void write_json_object(const std::string& path, const boost::json::object& o);

}  // namespace triage::output
