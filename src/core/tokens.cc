#include "core/tokens.h"

#include <algorithm>
#include <cctype>

namespace triage::core {

int64_t estimate_tokens(std::string_view text) {
  if (text.empty()) return 0;
  int64_t words = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    bool space = std::isspace(c) != 0;
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  // Average of the two common rules of thumb, never less than one token.
  int64_t by_chars = (static_cast<int64_t>(text.size()) + 3) / 4;
  int64_t by_words = (words * 4 + 2) / 3;
  return std::max<int64_t>(1, (by_chars + by_words + 1) / 2);
}

}  // namespace triage::core
