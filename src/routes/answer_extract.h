#pragma once
// Answer extraction shared by the ensemble's vote and the `agreement` check: pull the final
// number, option letter or normalised text out of a model's free-form answer, so two answers
// can be compared for equality. All functions are pure and thread-safe.
#include <re2/re2.h>

#include <optional>
#include <string>

namespace triage::routes {

// Leading/trailing ASCII whitespace removed.
std::string trim_answer(std::string s);
// Last match of `re` in `text`: its group 1 when the pattern has one, else the whole match.
std::optional<std::string> last_answer_match(const std::string& text, const RE2& re);
// "$1,234.50" -> "1234.5": commas and '$' stripped, trailing fractional zeros dropped, "-0" -> "0".
std::string normalize_number(std::string s);
// Trimmed, trailing '.'/'!' dropped, ASCII lowercased.
std::string normalize_answer_text(std::string s);
// The last number in `text`, normalised (normalize_number); nullopt when there is none.
std::optional<std::string> extract_last_number(const std::string& text);
// The option letter A-E: the last "answer is (B)" / "option: C" style mention, else the whole
// text when it is just an upper-case letter ("B", "(B)."), else a leading letter marked as an
// option ("A) Kyle", "D (the sun)", "B. Because", "C: ..."; not "A chart shows"); nullopt
// otherwise (e.g. an answer that repeats the option's text without its letter).
std::optional<std::string> extract_option_letter(const std::string& text);

}  // namespace triage::routes
