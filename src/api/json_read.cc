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

}  // namespace triage::api
