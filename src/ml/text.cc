#include "ml/text.h"

namespace triage::ml {

std::string normalize_text(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  bool pending_space = false;
  auto put_space = [&] {
    if (!out.empty()) pending_space = true;
  };
  for (unsigned char c : text) {
    if (c < 0x80 && (c <= 0x20 || c == 0x7f)) {  // whitespace and control characters
      put_space();
      continue;
    }
    bool punct = c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                               (c >= 'A' && c <= 'Z'));
    if (punct) put_space();
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    if (punct) put_space();
  }
  return out;
}

}  // namespace triage::ml
