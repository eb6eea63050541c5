#pragma once
// Small helpers for assembling JSON text by hand on the hot serialization paths (completions,
// stream chunks, error bodies). Everything appends to a caller-owned std::string; nothing
// allocates beyond growing that string. Thread-safe (no shared state).
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_text.h"

namespace triage::api::detail {

// Appends `s` as a JSON string literal (with the quotes): JsonStringMode::kStrict, so valid
// UTF-8 passes through unchanged and each byte of an invalid UTF-8 sequence becomes U+FFFD.
inline void append_string(std::string& out, std::string_view s) {
  append_json_string(out, s, JsonStringMode::kStrict);
}

inline void append_int(std::string& out, int64_t v) { append_json_int(out, v); }

// Shortest round-trip decimal form ("0.00042", "12.5", "1e-09"); NaN and infinities as null.
inline void append_double(std::string& out, double v) { append_json_double(out, v); }

inline void append_bool(std::string& out, bool v) { out += v ? "true" : "false"; }

// A string, or null when it is empty.
inline void append_string_or_null(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += "null";
  } else {
    append_string(out, s);
  }
}

// Appends an arbitrary JSON value (tool_calls and other pass-through objects) with
// boost::json's serializer.
void append_value(std::string& out, const boost::json::value& v);

}  // namespace triage::api::detail
