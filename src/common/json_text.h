#pragma once
// Hand-written JSON text: the one implementation of JSON string escaping and number formatting
// for the paths that assemble JSON by hand (API responses and stream chunks, error bodies,
// stored trace columns). Everything appends to a caller-owned std::string; no shared state, so
// any thread may call these.
#include <cstdint>
#include <string>
#include <string_view>

namespace triage {

// How append_json_string treats what JSON allows several spellings of.
enum class JsonStringMode {
  // Text sent to clients: valid UTF-8 passes through, each byte of an invalid UTF-8 sequence
  // becomes U+FFFD (so the output is valid JSON even for text from CSV files or templates);
  // \b \f \n \r \t are short escapes, other control characters \u00XX.
  kStrict,
  // Text stored as it was recorded (trace columns): bytes >= 0x80 pass through unchanged;
  // \n \r \t are short escapes, every other control character (\b and \f too) \u00XX.
  kVerbatim,
};

// Appends `s` as a JSON string literal, quotes included. '"' and '\\' are always escaped.
void append_json_string(std::string& out, std::string_view s,
                        JsonStringMode mode = JsonStringMode::kStrict);

// Decimal, as std::to_chars writes it.
void append_json_int(std::string& out, int64_t v);

// Shortest round-trip decimal form ("0.00042", "12.5", "1e-09"); NaN and infinities as null
// (JSON has neither).
void append_json_double(std::string& out, double v);

}  // namespace triage
