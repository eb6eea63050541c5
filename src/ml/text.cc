#include "ml/text.h"

#include <array>
#include <cstdint>

namespace triage::ml {

namespace {

// What norm-v1 does with a byte: a separator (ASCII whitespace and control), a character
// kept in its word (ASCII letters and digits, every byte >= 0x80), or ASCII punctuation (a
// token of its own).
enum ByteKind : uint8_t { kSeparator, kWordByte, kPunctuation };

constexpr std::array<ByteKind, 256> kKind = [] {
  std::array<ByteKind, 256> k{};
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c >= 0x80 || alnum) {
      k[c] = kWordByte;
    } else if (c <= 0x20 || c == 0x7f) {
      k[c] = kSeparator;
    } else {
      k[c] = kPunctuation;
    }
  }
  return k;
}();

}  // namespace

std::string normalize_text(std::string_view text) {
  std::string out;
  normalize_text(text, out);
  return out;
}

void normalize_text(std::string_view text, std::string& out, std::vector<uint32_t>* token_ends) {
  // Written through a pointer into a buffer sized for the worst case (each byte adds at most
  // itself and one space before it): appending byte by byte cost a capacity check and a
  // terminator per byte, most of the normalisation's time.
  out.resize(2 * text.size());
  if (token_ends) token_ends->clear();
  char* const begin = out.data();
  char* w = begin;
  bool pending_space = false;  // a space goes before the next byte written, if any
  for (const unsigned char c : text) {
    const ByteKind kind = kKind[c];
    if (kind == kSeparator) {
      pending_space = w != begin;  // never before the first byte written
      continue;
    }
    if (pending_space || (kind == kPunctuation && w != begin)) {
      if (token_ends) token_ends->push_back(static_cast<uint32_t>(w - begin));
      *w++ = ' ';
    }
    *w++ = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    pending_space = kind == kPunctuation;
  }
  if (token_ends && w != begin) token_ends->push_back(static_cast<uint32_t>(w - begin));
  out.resize(static_cast<std::size_t>(w - begin));
}

}  // namespace triage::ml
