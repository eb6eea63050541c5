#include "routes/prompt_template.h"

namespace triage::routes {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

PromptTemplate PromptTemplate::from_text(std::string_view text) {
  PromptTemplate t;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      size_t j = i + 1;
      while (j < text.size() && name_char(text[j])) ++j;
      if (j > i + 1 && j < text.size() && text[j] == '}') {
        if (!literal.empty()) t.parts_.push_back({std::move(literal), false});
        literal.clear();
        t.parts_.push_back({std::string(text.substr(i + 1, j - i - 1)), true});
        i = j + 1;
        continue;
      }
    }
    literal.push_back(text[i]);
    ++i;
  }
  if (!literal.empty()) t.parts_.push_back({std::move(literal), false});
  return t;
}

PromptTemplate PromptTemplate::parse(const config::Field& field,
                                     const std::function<std::string(const std::string&)>& known) {
  PromptTemplate t = from_text(field.as<std::string>());
  for (const Part& p : t.parts_) {
    if (!p.placeholder) continue;
    const std::string why = known(p.text);
    if (!why.empty()) field.fail("placeholder {" + p.text + "}: " + why);
  }
  return t;
}

std::string PromptTemplate::render(
    const std::function<std::string(const std::string&)>& value) const {
  std::string out;
  for (const Part& p : parts_) {
    if (p.placeholder) {
      out += value(p.text);
    } else {
      out += p.text;
    }
  }
  return out;
}

std::vector<std::string> PromptTemplate::placeholders() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) {
    if (p.placeholder) out.push_back(p.text);
  }
  return out;
}

}  // namespace triage::routes
