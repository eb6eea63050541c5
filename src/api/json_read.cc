#include "api/json_read.h"

namespace triage::api {

namespace json = boost::json;

std::string_view json_kind_phrase(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a decimal";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

Error invalid_field(std::string message, std::string param) {
  return make_error(ErrorCode::kInvalidRequest, std::move(message), {}, std::move(param));
}

Error expected_error(const std::string& path, std::string_view expected, const json::value& got) {
  return invalid_field(
      path + ": expected " + std::string(expected) + ", got " + std::string(json_kind_phrase(got)),
      path);
}

Error required_error(const std::string& path) {
  return invalid_field(path + ": field required", path);
}

const json::value* non_null_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::string element_path(std::string_view base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

Result<std::string_view> required_string(const json::object& o, std::string_view key,
                                         const std::string& base) {
  const json::value* v = non_null_field(o, key);
  const std::string path = base.empty() ? std::string(key) : base + "." + std::string(key);
  if (v == nullptr) return required_error(path);
  if (!v->is_string()) return expected_error(path, "a string", *v);
  return std::string_view(v->get_string());
}

void append_line(std::string& text, std::string_view more) {
  if (!text.empty()) text += '\n';
  text += more;
}

}  // namespace triage::api
