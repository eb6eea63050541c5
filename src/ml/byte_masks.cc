#include "ml/byte_masks.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "ml/ascii.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace triage::ml {

namespace {

constexpr std::string_view kMathBytes = "=+^*/<>()[]{}";

}  // namespace

ByteMasks byte_masks_scalar(const char* text, std::size_t size, unsigned wanted, char* lower) {
  ByteMasks m;
  const std::size_t n = std::min<std::size_t>(size, 64);
  for (std::size_t j = 0; j < n; ++j) {
    const char c = text[j];
    const uint64_t bit = uint64_t{1} << j;
    const bool digit = is_ascii_digit(c);
    if (is_python_space(c) && (wanted & kSpaceClass)) m.space |= bit;
    if (digit && (wanted & kDigitClass)) m.digit |= bit;
    if ((is_ascii_alpha(c) || digit || c == '_') && (wanted & kWordClass)) m.word |= bit;
    if (c != 0 && kMathBytes.find(c) != std::string_view::npos && (wanted & kMathClass)) {
      m.math |= bit;
    }
    if (c == '\n' && (wanted & kNewlineClass)) m.newline |= bit;
    if (c == '_' && (wanted & kUnderscoreClass)) m.underscore |= bit;
    if (lower) lower[j] = ascii_lower(c);
  }
  return m;
}

#if defined(__SSE2__)

namespace {

// Bytes in [lo, hi] for 0 <= lo <= hi < 0x80 (signed compares: bytes >= 0x80 are negative,
// so below lo).
__m128i in_range(__m128i v, char lo, char hi) {
  const __m128i outside =
      _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(lo)), _mm_cmpgt_epi8(v, _mm_set1_epi8(hi)));
  return _mm_xor_si128(outside, _mm_set1_epi8(-1));
}

__m128i equal(__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }

uint64_t bits(__m128i v) { return static_cast<uint16_t>(_mm_movemask_epi8(v)); }

}  // namespace

ByteMasks byte_masks(const char* text, std::size_t size, unsigned wanted, char* lower) {
  const std::size_t n = std::min<std::size_t>(size, 64);
  alignas(16) char padded[64];
  const char* src = text;
  if (n < 64) {  // zero bytes are in no class, and their bits are cleared below
    std::memset(padded, 0, sizeof padded);
    std::memcpy(padded, text, n);
    src = padded;
  }
  ByteMasks m;
  alignas(16) char lowered[64];
  for (int part = 0; part < 4; ++part) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16 * part));
    const int shift = 16 * part;
    const __m128i digit = in_range(v, '0', '9');
    const __m128i underscore = equal(v, '_');
    if (wanted & kSpaceClass) {
      const __m128i space = _mm_or_si128(_mm_or_si128(equal(v, ' '), in_range(v, '\t', '\r')),
                                         in_range(v, 0x1c, 0x1f));
      m.space |= bits(space) << shift;
    }
    if (wanted & kDigitClass) m.digit |= bits(digit) << shift;
    if (wanted & kWordClass) {
      // Setting 0x20 folds capitals onto small letters and moves no other byte into a-z.
      const __m128i alpha = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
      m.word |= bits(_mm_or_si128(_mm_or_si128(alpha, digit), underscore)) << shift;
    }
    if (wanted & kMathClass) {
      __m128i math = _mm_setzero_si128();
      for (const char c : kMathBytes) math = _mm_or_si128(math, equal(v, c));
      m.math |= bits(math) << shift;
    }
    if (wanted & kNewlineClass) m.newline |= bits(equal(v, '\n')) << shift;
    if (wanted & kUnderscoreClass) m.underscore |= bits(underscore) << shift;
    if (lower) {
      const __m128i upper = in_range(v, 'A', 'Z');
      const __m128i low = _mm_add_epi8(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
      _mm_store_si128(reinterpret_cast<__m128i*>(lowered + 16 * part), low);
    }
  }
  const uint64_t keep = block_bits(n);
  m.space &= keep;
  m.digit &= keep;
  m.word &= keep;
  m.math &= keep;
  m.newline &= keep;
  m.underscore &= keep;
  if (lower) std::memcpy(lower, lowered, n);
  return m;
}

#else

ByteMasks byte_masks(const char* text, std::size_t size, unsigned wanted, char* lower) {
  return byte_masks_scalar(text, size, wanted, lower);
}

#endif

}  // namespace triage::ml
