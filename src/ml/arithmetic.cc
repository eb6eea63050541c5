#include "ml/arithmetic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>

#include "ml/ascii.h"

namespace triage::ml {

namespace {

enum class Tok { kNum, kOp, kLParen, kRParen, kEq, kBreak };

struct Token {
  Tok kind = Tok::kBreak;
  char op = 0;                // kOp: + - * / ^
  double value = 0;           // kNum, without its % sign
  bool percent = false;       // kNum written with a trailing %
  int decimals = 0;           // kNum: digits after the decimal point
  bool fraction = false;      // kNum written as a tight fraction "2/5" (exact)
  size_t begin = 0, end = 0;  // byte span in the text
};

// A number as an interval: a value stated to d decimals ("13.33") stands for anything that
// rounds to it, so steps built on rounded intermediates ("20 * 13.33 = 266.66") are not wrong.
// Integers and fractions are exact.
struct Num {
  double v = 0, lo = 0, hi = 0;
};

Num hull(double v, double a, double b, double c, double d) {
  return {v, std::min(std::min(a, b), std::min(c, d)), std::max(std::max(a, b), std::max(c, d))};
}
Num apply(char op, const Num& a, const Num& b) {
  switch (op) {
    case '+':
      return {a.v + b.v, a.lo + b.lo, a.hi + b.hi};
    case '-':
      return {a.v - b.v, a.lo - b.hi, a.hi - b.lo};
    case '*':
      return hull(a.v * b.v, a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi);
    case '/':
      if (b.lo <= 0 && b.hi >= 0) {  // x/0 is no claim: an infinite interval is never checked
        const double inf = std::numeric_limits<double>::infinity();
        return {b.v == 0 ? inf : a.v / b.v, -inf, inf};
      }
      return hull(a.v / b.v, a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi);
    default:  // '^'
      return hull(std::pow(a.v, b.v), std::pow(a.lo, b.lo), std::pow(a.lo, b.hi),
                  std::pow(a.hi, b.lo), std::pow(a.hi, b.hi));
  }
}
bool finite(const Num& n) {
  return std::isfinite(n.v) && std::isfinite(n.lo) && std::isfinite(n.hi);
}

// A value under both readings of `%`: as "/100" and as a plain number.
struct Val {
  Num pct;
  Num raw;
};
Val apply(char op, const Val& a, const Val& b) {
  return {apply(op, a.pct, b.pct), apply(op, a.raw, b.raw)};
}
Val number_value(const Token& n) {
  const double half = n.fraction || n.decimals == 0 ? 0.0 : 0.5 * std::pow(10.0, -n.decimals);
  const Num raw{n.value, n.value - half, n.value + half};
  if (!n.percent) return {raw, raw};
  return {Num{raw.v / 100, raw.lo / 100, raw.hi / 100}, raw};
}


// Multi-byte operators: × ÷ (U+00D7, U+00F7), · (U+00B7), − (U+2212), ⋅ (U+22C5).
char utf8_operator(std::string_view s, size_t i, size_t& len) {
  auto at = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
  if (at(i) == 0xC3 && at(i + 1) == 0x97) {
    len = 2;
    return '*';
  }
  if (at(i) == 0xC3 && at(i + 1) == 0xB7) {
    len = 2;
    return '/';
  }
  if (at(i) == 0xC2 && at(i + 1) == 0xB7) {
    len = 2;
    return '*';
  }
  if (at(i) == 0xE2 && at(i + 1) == 0x88 && at(i + 2) == 0x92) {
    len = 3;
    return '-';
  }
  if (at(i) == 0xE2 && at(i + 1) == 0x8B && at(i + 2) == 0x85) {
    len = 3;
    return '*';
  }
  return 0;
}

bool starts_number(std::string_view s, size_t i) {
  if (i >= s.size()) return false;
  if (is_ascii_digit(s[i])) return true;
  if (s[i] == '$' || s[i] == '.') return i + 1 < s.size() && is_ascii_digit(s[i + 1]);
  return false;
}

size_t read_plain(std::string_view s, size_t i, Token& t) {
  std::string digits;
  while (i < s.size()) {
    if (is_ascii_digit(s[i])) {
      digits += s[i++];
    } else if (s[i] == ',' && !digits.empty() && i + 3 < s.size() && is_ascii_digit(s[i + 1]) &&
               is_ascii_digit(s[i + 2]) && is_ascii_digit(s[i + 3]) &&
               (i + 4 >= s.size() || !is_ascii_digit(s[i + 4]))) {
      ++i;  // thousands separator: exactly three digits follow
    } else {
      break;
    }
  }
  if (i + 1 < s.size() && s[i] == '.' && is_ascii_digit(s[i + 1])) {
    digits += s[i++];
    while (i < s.size() && is_ascii_digit(s[i])) {
      digits += s[i++];
      ++t.decimals;
    }
  }
  t.value = digits.empty() ? 0 : detail::numeral_value(digits);
  return i;
}

// Reads a number at i ("$1,234.50", "25%", and a tight fraction "2/5" that is not part of a
// chain "40/20/100"); returns its end.
size_t read_number(std::string_view s, size_t i, Token& t) {
  const size_t start = i;
  const bool dollar = s[i] == '$';
  if (dollar) ++i;
  i = read_plain(s, i, t);
  if (!dollar && t.decimals == 0 && i + 1 < s.size() && s[i] == '/' && is_ascii_digit(s[i + 1]) &&
      (start == 0 || s[start - 1] != '/')) {
    Token den;
    const size_t j = read_plain(s, i + 1, den);
    if (den.decimals == 0 && den.value != 0 && (j >= s.size() || (s[j] != '/' && s[j] != '%'))) {
      t.value /= den.value;
      t.fraction = true;
      return j;
    }
  }
  if (i < s.size() && s[i] == '%') {
    t.percent = true;
    ++i;
  }
  return i;
}

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  auto prev_is_operand = [&] {
    return !out.empty() && (out.back().kind == Tok::kNum || out.back().kind == Tok::kRParen);
  };
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    Token t;
    t.begin = i;
    size_t len = 0;
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    char uop = utf8_operator(s, i, len);
    if (uop == '-' || c == '-') {
      const size_t after = i + (uop ? len : 1);
      if (!prev_is_operand() && starts_number(s, after)) {  // a sign: "-5", "= -3"
        i = read_number(s, after, t);
        t.kind = Tok::kNum;
        t.value = -t.value;
      } else {
        t.kind = Tok::kOp;
        t.op = '-';
        i = after;
      }
    } else if (uop) {
      t.kind = Tok::kOp;
      t.op = uop;
      i += len;
    } else if (starts_number(s, i)) {
      t.kind = Tok::kNum;
      i = read_number(s, i, t);
    } else if (c == '+' || c == '/' || c == '^') {
      t.kind = Tok::kOp;
      t.op = c;
      ++i;
    } else if (c == '*') {
      t.kind = Tok::kOp;
      t.op = '*';
      ++i;
      if (i < s.size() && s[i] == '*') {  // "**" is a power
        t.op = '^';
        ++i;
      }
    } else if (c == '(') {
      t.kind = Tok::kLParen;
      ++i;
    } else if (c == ')') {
      t.kind = Tok::kRParen;
      ++i;
    } else if (c == '=') {
      const bool compound =
          (i + 1 < s.size() && (s[i + 1] == '=' || s[i + 1] == '>')) ||
          (i > 0 && (s[i - 1] == '<' || s[i - 1] == '>' || s[i - 1] == '!' || s[i - 1] == '='));
      t.kind = compound ? Tok::kBreak : Tok::kEq;
      ++i;
    } else if (c == '\\') {
      // Markdown and LaTeX: "\*", "\times", "\cdot" multiply, "\div" divides, "\$" is "$".
      const std::string_view rest = s.substr(i + 1);
      if (rest.substr(0, 1) == "$") {
        ++i;
        continue;
      }
      if (rest.substr(0, 1) == "*") {
        t.kind = Tok::kOp;
        t.op = '*';
        i += 2;
      } else if (rest.substr(0, 5) == "times" || rest.substr(0, 4) == "cdot") {
        t.kind = Tok::kOp;
        t.op = '*';
        i += 1 + (rest[0] == 't' ? 5 : 4);
      } else if (rest.substr(0, 3) == "div") {
        t.kind = Tok::kOp;
        t.op = '/';
        i += 4;
      } else {
        ++i;
      }
    } else if (is_ascii_alpha(c)) {
      size_t j = i;
      while (j < s.size() && is_ascii_alpha(s[j])) ++j;
      // A lone "x" between operands is a multiplication sign: "3 x 4", "2x(1+2)".
      size_t k = j;
      while (k < s.size() && s[k] == ' ') ++k;
      if (j == i + 1 && (c == 'x' || c == 'X') && prev_is_operand() &&
          (starts_number(s, k) || (k < s.size() && s[k] == '('))) {
        t.kind = Tok::kOp;
        t.op = '*';
      }
      i = j;
    } else {
      ++i;  // punctuation, newlines, '<', '>', ':' ... break an expression
    }
    t.end = i;
    if (t.kind == Tok::kBreak && !out.empty() && out.back().kind == Tok::kBreak) {
      out.back().end = i;
      continue;
    }
    out.push_back(t);
  }
  return out;
}

// Recursive-descent evaluation over tokens [pos, end), greedy: each rule consumes the longest
// valid prefix and leaves `pos` after it. nullopt when not even one operand parses.
class Parser {
 public:
  Parser(const std::vector<Token>& t, size_t pos, size_t end) : t_(t), pos_(pos), end_(end) {}
  size_t pos() const { return pos_; }
  int binary_ops() const { return binary_ops_; }

  std::optional<Val> expr() {
    auto v = term();
    if (!v) return v;
    while (at_op('+') || at_op('-')) {
      const size_t save = pos_;
      const char op = t_[pos_++].op;
      auto r = term();
      if (!r) {
        pos_ = save;
        break;
      }
      ++binary_ops_;
      v = apply(op, *v, *r);
    }
    return v;
  }

 private:
  bool at(Tok k) const { return pos_ < end_ && t_[pos_].kind == k; }
  bool at_op(char op) const { return at(Tok::kOp) && t_[pos_].op == op; }

  std::optional<Val> term() {
    auto v = power();
    if (!v) return v;
    while (at_op('*') || at_op('/')) {
      const size_t save = pos_;
      const char op = t_[pos_++].op;
      auto r = power();
      if (!r) {
        pos_ = save;
        break;
      }
      ++binary_ops_;
      v = apply(op, *v, *r);
    }
    return v;
  }

  std::optional<Val> power() {
    auto v = unary();
    if (!v || !at_op('^')) return v;
    const size_t save = pos_++;
    auto r = power();
    if (!r) {
      pos_ = save;
      return v;
    }
    ++binary_ops_;
    return apply('^', *v, *r);
  }

  std::optional<Val> unary() {
    if (at_op('-')) {
      const size_t save = pos_++;
      auto v = unary();
      if (!v) pos_ = save;
      if (!v) return std::nullopt;
      auto neg = [](const Num& n) { return Num{-n.v, -n.hi, -n.lo}; };
      return Val{neg(v->pct), neg(v->raw)};
    }
    return primary();
  }

  std::optional<Val> primary() {
    if (at(Tok::kNum)) {
      const Token& n = t_[pos_++];
      if (n.fraction) ++binary_ops_;  // "5/2" states a division
      return number_value(n);
    }
    if (at(Tok::kLParen)) {
      const size_t save = pos_++;
      auto v = expr();
      if (!v || !at(Tok::kRParen)) {
        pos_ = save;
        return std::nullopt;
      }
      ++pos_;
      return v;
    }
    return std::nullopt;
  }

  const std::vector<Token>& t_;
  size_t pos_;
  const size_t end_;
  int binary_ops_ = 0;
};

bool is_expr_token(const Token& t) {
  return t.kind == Tok::kNum || t.kind == Tok::kOp || t.kind == Tok::kLParen ||
         t.kind == Tok::kRParen;
}

// The left side ending at `eq`: the whole expression run before it, fully parsed. Returns the
// first token index and the value, or nullopt when the run is not a checkable expression.
std::optional<std::pair<size_t, Val>> left_side(const std::vector<Token>& t, size_t eq) {
  size_t s = eq;
  while (s > 0 && is_expr_token(t[s - 1])) --s;
  if (s == eq) return std::nullopt;
  // An unbalanced "(" that opens the run belongs to the prose: "(5 + 3 = 8)".
  int depth = 0;
  for (size_t i = s; i < eq; ++i) {
    depth += t[i].kind == Tok::kLParen ? 1 : t[i].kind == Tok::kRParen ? -1 : 0;
  }
  while (depth > 0 && s < eq && t[s].kind == Tok::kLParen) {
    ++s;
    --depth;
  }
  // Starting with an operator means the expression began in the words before: not checkable.
  // Where two operands touch ("1) 5 + 3"), the expression starts at the second.
  for (size_t start = s; start < eq; ++start) {
    if (start > s && !(t[start - 1].kind == Tok::kNum || t[start - 1].kind == Tok::kRParen))
      continue;
    if (start > s && !(t[start].kind == Tok::kNum || t[start].kind == Tok::kLParen)) continue;
    if (t[start].kind == Tok::kOp) return std::nullopt;
    Parser p(t, start, eq);
    auto v = p.expr();
    if (v && p.pos() == eq) {
      if (p.binary_ops() == 0) return std::nullopt;
      return std::make_pair(start, *v);
    }
  }
  return std::nullopt;
}

// The left side's interval meets the stated one (widened by rel_tol), or the stated value is
// an integer within 1 of the left side's value (floored or ceiled: "7/2 = 4 boxes").
bool consistent(const Num& left, const Num& stated, bool integer_stated, double unit,
                double rel_tol) {
  if (!finite(left) || !finite(stated)) return false;
  const double scale = std::max(std::fabs(left.v), std::fabs(stated.v));
  const double e = rel_tol * scale + 1e-9 * std::max(1.0, scale);
  if (left.lo <= stated.hi + e && stated.lo - e <= left.hi) return true;
  return integer_stated && std::fabs(left.v - stated.v) < unit * 0.999;
}

}  // namespace

std::vector<ArithmeticStep> find_arithmetic(std::string_view text, double rel_tolerance) {
  const std::vector<Token> t = tokenize(text);
  std::vector<ArithmeticStep> steps;
  for (size_t eq = 0; eq < t.size(); ++eq) {
    if (t[eq].kind != Tok::kEq) continue;
    auto lhs = left_side(t, eq);
    if (!lhs) continue;
    size_t end = eq + 1;
    while (end < t.size() && is_expr_token(t[end])) ++end;
    if (eq + 1 >= end || t[eq + 1].kind != Tok::kNum) continue;
    const Val left = lhs->second;
    if (!finite(left.pct) || !finite(left.raw)) continue;  // x/0: not a claim

    // Candidates for the stated value: the whole right-hand expression, and its first number
    // (a running total "3 * 4 = 12 + 5 = 17" states 12 for the first link).
    const Token& first = t[eq + 1];
    Parser p(t, eq + 1, end);
    auto whole = p.expr();
    struct Candidate {
      Val v;
      bool integer;  // a single integer: may be floored or ceiled
      size_t end;
    };
    std::vector<Candidate> cands;
    cands.push_back({number_value(first), first.decimals == 0 && !first.fraction, eq + 2});
    if (whole && p.pos() > eq + 2) cands.push_back({*whole, false, p.pos()});

    bool ok = false;
    const Candidate* shown = &cands.back();
    for (const auto& c : cands) {
      const bool pct_unit = &c == &cands.front() && first.percent;
      if (consistent(left.pct, c.v.pct, c.integer, pct_unit ? 0.01 : 1.0, rel_tolerance) ||
          consistent(left.raw, c.v.raw, c.integer, 1.0, rel_tolerance)) {
        ok = true;
        shown = &c;
        break;
      }
    }
    ArithmeticStep step;
    const size_t b = t[lhs->first].begin;
    const size_t e = t[shown->end - 1].end;
    step.text = std::string(text.substr(b, e - b));
    // Report the reading a human would: raw numbers unless the step uses % on the left.
    step.computed = left.pct.v;
    // Show the reading a human would: "%" as /100 only when the left side uses it too.
    step.stated = left.pct.v == left.raw.v ? shown->v.raw.v : shown->v.pct.v;
    step.ok = ok;
    steps.push_back(std::move(step));
  }
  return steps;
}

namespace detail {

// A mantissa below 2^53 and a power of ten up to 1e22 are both exact doubles, and IEEE division
// rounds their quotient once, to the double nearest the numeral's value, which is what strtod
// returns; other numerals go to it. (strtod cost about as much as the rest of a scorer decision's
// arithmetic check.)
double numeral_value(const std::string& digits) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t mantissa = 0;
  int significant = 0, decimals = 0;
  bool point = false;
  for (const char c : digits) {
    if (c == '.') {
      point = true;
      continue;
    }
    mantissa = mantissa * 10 + static_cast<uint64_t>(c - '0');
    significant += mantissa != 0 ? 1 : 0;
    decimals += point ? 1 : 0;
  }
  if (significant > 19 || mantissa > (uint64_t{1} << 53) || decimals > 22) {
    return std::strtod(digits.c_str(), nullptr);
  }
  return static_cast<double>(mantissa) / kPow10[decimals];
}

}  // namespace detail

}  // namespace triage::ml
