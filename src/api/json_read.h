#pragma once
// What every client dialect's body reader (chat_request.cc, messages_request.cc,
// responses_request.cc, embeddings.cc) says the same way about a client's JSON: the name of a
// value's kind, and the 400 that names the field. Chat keeps OpenAI's own sentences around
// these; the other readers share the "PATH: expected X, got Y" ones below.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace triage::api {

// "null", "a boolean", "an integer", "a decimal", "a string", "an array", "an object".
std::string_view json_kind_phrase(const boost::json::value& v);

// kInvalidRequest with a public `message` and `param`, the JSON path of the offending field.
Error invalid_field(std::string message, std::string param);

// "PATH: expected EXPECTED, got <kind of got>" at `path`.
Error expected_error(const std::string& path, std::string_view expected,
                     const boost::json::value& got);
// "PATH: field required" at `path`.
Error required_error(const std::string& path);
// o[key], or null when absent or JSON null.
const boost::json::value* non_null_field(const boost::json::object& o, std::string_view key);
// "BASE[i]".
std::string element_path(std::string_view base, std::size_t i);
// The required string o[key]; the path is "BASE.KEY" ("KEY" when `base` is empty).
Result<std::string_view> required_string(const boost::json::object& o, std::string_view key,
                                         const std::string& base);
// Appends `more` to `text`, on a new line when `text` has some (text parts joined with "\n").
void append_line(std::string& text, std::string_view more);

}  // namespace triage::api
