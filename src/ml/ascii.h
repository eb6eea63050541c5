#pragma once
// ASCII byte classes for the in-process models' text scans, inline (a <cctype> call per byte
// cost more than the scans' own work, and its answers depend on the C locale, which the
// gateway never changes). Bytes >= 0x80 are in none of them.

namespace triage::ml {

constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 0x20) : c;
}
// std::isspace in the C locale: \t \n \v \f \r and ' '.
constexpr bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
// Python's str.isspace() on ASCII (the reference tokenisers' \s): the C set and \x1c-\x1f.
constexpr bool is_python_space(char c) { return is_c_space(c) || (c >= 0x1c && c <= 0x1f); }

}  // namespace triage::ml
