#include "core/chat.h"

namespace triage::core {

const std::string& ChatRequest::last_user_text() const {
  static const std::string kEmpty;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == "user") return it->text;
  }
  return kEmpty;
}

}  // namespace triage::core
