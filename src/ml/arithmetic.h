#pragma once
// The arithmetic an answer states ("16 - 3 = 13", "2 * 4.5 = 9", GSM8K calculator notes
// "<<5/2=2.5>>", "$80,000 + $50,000 = $130,000"), recomputed. The `arithmetic` check fails an
// answer on a wrong step (the commonest failure of small models on word problems: a correct plan
// with a slipped computation); the answer scorer's features count the steps.
//
// What counts as a step: an `=` whose left side is an expression with at least one binary
// operator (+ - * / ^, and x × ÷ · − between numbers) over numbers (commas as thousands
// separators, `$`, `%`, decimals, parentheses), and whose right side starts with a number.
// Deliberately conservative, because a false alarm costs an escalation:
//  - text breaks an expression: "3 days * 2 = 6" is not checked (the left side would start
//    with an operator: its beginning is in the words), nor is "x = 5";
//  - a chain "2 + 1/2 = 5/2 = 2.5" is checked link by link; in a running total
//    "3 * 4 = 12 + 5 = 17" the first link passes when the right side's leading number matches;
//  - `%` is tried both as "/100" and as a plain number ("30/120*100 = 25%");
//  - rounding, truncation or ceiling to the decimals the right side states is accepted
//    ("7/3 = 2.33", "15/2 = 8"), as is a relative difference up to rel_tolerance.
#include <string>
#include <string_view>
#include <vector>

namespace triage::ml {

struct ArithmeticStep {
  std::string text;     // the step as written, e.g. "16 - 3 = 12"
  double computed = 0;  // the left side, recomputed
  double stated = 0;    // the value the answer states
  bool ok = true;
};

// Every checkable step in `text`, in order. Pure; safe from any thread.
std::vector<ArithmeticStep> find_arithmetic(std::string_view text, double rel_tolerance = 1e-6);

namespace detail {
// strtod of `digits` (decimal digits with at most one '.'), bit for bit, mostly without it.
double numeral_value(const std::string& digits);
}  // namespace detail

}  // namespace triage::ml
