#pragma once
// `json`: the answer is valid JSON and, optionally, matches a JSON-schema subset declared in
// YAML: `type` (a name or a list of names: object, array, string, number, integer, boolean,
// null), `required`, `properties`, `items`, `enum`. Other schema keywords are refused at load
// (so a schema never silently checks less than its author thinks).
#include <boost/json/value.hpp>

#include <string>
#include <utility>
#include <vector>

#include "checks/rule_checks.h"

namespace triage::checks {

struct JsonSchema {
  std::vector<std::string> types;  // empty: any type
  std::vector<std::string> required;
  std::vector<std::pair<std::string, JsonSchema>> properties;
  std::vector<JsonSchema> items;  // zero or one: the schema of every array element
  bool has_enum = false;
  std::vector<boost::json::value> enum_values;
};

// Parses a schema from YAML; throws config::ConfigError at the offending field.
JsonSchema parse_json_schema(const config::Field& field);

// Empty when `v` matches; else the first mismatch as "$.a[2].b: expected string, got number".
std::string validate_json(const boost::json::value& v, const JsonSchema& schema,
                          const std::string& where = "$");

struct JsonOptions {
  bool allow_fences = true;  // accept the JSON inside one ```json ... ``` fence
  bool has_schema = false;
  JsonSchema schema;
};

class JsonCheck final : public SyncCheck {
 public:
  explicit JsonCheck(JsonOptions o) : o_(std::move(o)) {}
  std::string_view name() const override { return "json/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;

 private:
  JsonOptions o_;
};

std::unique_ptr<routes::Check> make_json_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks
