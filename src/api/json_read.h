#pragma once
// What every client dialect's body reader (chat_request.cc, messages_request.cc) says the same
// way about a client's JSON: the name of a value's kind, and the 400 that names the field.
// Each dialect keeps its own sentence around these, in its API's wording.
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace triage::api {

// "null", "a boolean", "an integer", "a decimal", "a string", "an array", "an object".
std::string_view json_kind_phrase(const boost::json::value& v);

// kInvalidRequest with a public `message` and `param`, the JSON path of the offending field.
Error invalid_field(std::string message, std::string param);

}  // namespace triage::api
