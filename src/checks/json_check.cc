#include "checks/json_check.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>

namespace triage::checks {

using routes::Verdict;

namespace {

const std::vector<std::string> kTypeNames = {"object", "array",   "string", "number",
                                             "integer", "boolean", "null"};

std::string type_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object: return "object";
    case boost::json::kind::array: return "array";
    case boost::json::kind::string: return "string";
    case boost::json::kind::bool_: return "boolean";
    case boost::json::kind::null: return "null";
    case boost::json::kind::double_: {
      const double d = v.get_double();
      return std::floor(d) == d ? "integer" : "number";
    }
    default: return "integer";  // int64, uint64
  }
}

bool type_matches(const boost::json::value& v, const std::string& want) {
  const std::string got = type_of(v);
  return got == want || (want == "number" && got == "integer");
}

double as_number(const boost::json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  return static_cast<double>(v.get_uint64());
}

bool json_equal(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number()) return as_number(a) == as_number(b);
  return a == b;
}

// A YAML scalar as a JSON value: quoted scalars are strings; plain ones are numbers, booleans
// or null when they read as such in JSON, else strings.
boost::json::value scalar_value(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "!") {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(s, ec);
    if (!ec && !v.is_structured()) return v;
    if (s == "~") return nullptr;
  }
  return boost::json::value(s);
}

// Strips one surrounding Markdown code fence (```json ... ```), if any.
std::string_view unfence(std::string_view s) {
  auto trim = [](std::string_view t) {
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    return t;
  };
  s = trim(s);
  if (s.size() < 6 || s.substr(0, 3) != "```" || s.substr(s.size() - 3) != "```") return s;
  s.remove_suffix(3);
  const size_t nl = s.find('\n');
  if (nl == std::string_view::npos) return s;
  return trim(s.substr(nl + 1));
}

}  // namespace

JsonSchema parse_json_schema(const config::Field& field) {
  JsonSchema schema;
  config::MapReader r = field.map();
  r.only({"type", "required", "properties", "items", "enum"});
  config::Field type = r["type"];
  if (type.present()) {
    if (type.node().IsScalar()) {
      schema.types.push_back(type.one_of(kTypeNames));
    } else {
      for (const config::Field& t : type.items()) schema.types.push_back(t.one_of(kTypeNames));
    }
  }
  schema.required = r["required"].get<std::vector<std::string>>({});
  config::MapReader props = r["properties"].map();
  for (auto& [key, sub] : props.entries()) {
    schema.properties.emplace_back(key, parse_json_schema(sub));
  }
  if (r["items"].present()) schema.items.push_back(parse_json_schema(r["items"]));
  config::Field en = r["enum"];
  if (en.present()) {
    schema.has_enum = true;
    for (const config::Field& item : en.items()) {
      if (!item.node().IsScalar()) item.fail("enum values must be scalars");
      schema.enum_values.push_back(scalar_value(item.node()));
    }
    if (schema.enum_values.empty()) en.fail("enum must list at least one value");
  }
  return schema;
}

std::string validate_json(const boost::json::value& v, const JsonSchema& schema,
                          const std::string& where) {
  if (!schema.types.empty() &&
      std::none_of(schema.types.begin(), schema.types.end(),
                   [&](const std::string& t) { return type_matches(v, t); })) {
    std::string want;
    for (const auto& t : schema.types) want += (want.empty() ? "" : " or ") + t;
    return where + ": expected " + want + ", got " + type_of(v);
  }
  if (schema.has_enum &&
      std::none_of(schema.enum_values.begin(), schema.enum_values.end(),
                   [&](const boost::json::value& e) { return json_equal(v, e); })) {
    return where + ": " + boost::json::serialize(v) + " is not one of the allowed values";
  }
  if (v.is_object()) {
    const auto& obj = v.get_object();
    for (const auto& key : schema.required) {
      if (!obj.contains(key)) return where + ": missing required property '" + key + "'";
    }
    for (const auto& [key, sub] : schema.properties) {
      if (const auto* child = obj.if_contains(key)) {
        std::string e = validate_json(*child, sub, where + "." + key);
        if (!e.empty()) return e;
      }
    }
  }
  if (v.is_array() && !schema.items.empty()) {
    const auto& arr = v.get_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      std::string e = validate_json(arr[i], schema.items[0], where + "[" + std::to_string(i) + "]");
      if (!e.empty()) return e;
    }
  }
  return {};
}

Verdict JsonCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  std::string_view text = o_.allow_fences ? unfence(a.content) : std::string_view(a.content);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return Verdict{false, 0.0, "not valid JSON: " + ec.message()};
  if (o_.has_schema) {
    std::string e = validate_json(v, o_.schema);
    if (!e.empty()) return Verdict{false, 0.0, "schema mismatch: " + e};
    return Verdict{true, 1.0, "valid JSON matching the schema"};
  }
  return Verdict{true, 1.0, "valid JSON"};
}

std::unique_ptr<routes::Check> make_json_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "schema", "allow_fences"});
  JsonOptions o;
  o.allow_fences = cfg["allow_fences"].get<bool>(true);
  if (cfg["schema"].present()) {
    o.has_schema = true;
    o.schema = parse_json_schema(cfg["schema"]);
  }
  return std::make_unique<JsonCheck>(std::move(o));
}

}  // namespace triage::checks
