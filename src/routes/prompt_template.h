#pragma once
// Prompt templates for composite routes (pipeline steps, ensemble judges and fusers):
// literal text with `{name}` placeholders, parsed and validated once at config load, rendered
// per request.
//
// A placeholder is `{` + a name of [A-Za-z0-9_.-] + `}`. Names the route does not know fail
// at load (with a suggestion), so a typo never reaches a model as literal text. Braces around
// anything else (JSON examples such as `{"intent": "..."}`) are literal text.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_util.h"

namespace triage::routes {

class PromptTemplate {
 public:
  PromptTemplate() = default;

  // Parses `field` (a string). `known(name)` returns an empty string when the placeholder is
  // allowed, else a message saying why not; the load then fails at `field` with that message.
  static PromptTemplate parse(const config::Field& field,
                              const std::function<std::string(const std::string&)>& known);
  // Parses text built in code (defaults); placeholders are not validated.
  static PromptTemplate from_text(std::string_view text);

  // Expands every placeholder through `value(name)`. Pure; thread-safe.
  std::string render(const std::function<std::string(const std::string&)>& value) const;

  bool empty() const { return parts_.empty(); }
  // Placeholder names in order of appearance (duplicates kept).
  std::vector<std::string> placeholders() const;

 private:
  struct Part {
    std::string text;  // literal text, or the placeholder's name
    bool placeholder = false;
  };
  std::vector<Part> parts_;
};

}  // namespace triage::routes
