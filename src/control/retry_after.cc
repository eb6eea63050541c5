// parse_retry_after (declared in retry.h): delay-seconds, the three HTTP-date forms, and
// OpenAI's retry-after-ms.
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>

#include "control/retry.h"

namespace triage::control {

namespace {

constexpr int64_t kMaxDelayMs = 365LL * 86'400'000;  // a larger value is nonsense; clamp

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A non-negative decimal ("120", "1.5") scaled by `unit_ms`, rounded up; nullopt otherwise.
std::optional<int64_t> parse_delay(std::string_view s, double unit_ms) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  double value = 0;
  double scale = 0;  // 0 while in the integer part
  bool digits = false;
  for (char c : s) {
    if (c == '.' && scale == 0) {
      scale = 0.1;
    } else if (c >= '0' && c <= '9') {
      digits = true;
      if (scale == 0) {
        value = value * 10 + (c - '0');
      } else {
        value += (c - '0') * scale;
        scale /= 10;
      }
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  const double ms = std::ceil(value * unit_ms);
  return ms >= static_cast<double>(kMaxDelayMs) ? kMaxDelayMs : static_cast<int64_t>(ms);
}

// A cursor over a date string; every read fails softly (ok_ = false).
class DateReader {
 public:
  explicit DateReader(std::string_view s) : s_(s) {}
  bool ok() const { return ok_ && i_ == s_.size(); }

  void literal(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
    } else {
      ok_ = false;
    }
  }
  void spaces() {  // one or more
    if (i_ >= s_.size() || s_[i_] != ' ') ok_ = false;
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
  }
  int number(std::size_t min_digits, std::size_t max_digits) {
    std::size_t n = 0;
    int v = 0;
    while (i_ < s_.size() && n < max_digits && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      v = v * 10 + (s_[i_++] - '0');
      ++n;
    }
    if (n < min_digits) ok_ = false;
    return v;
  }
  std::string_view word() {
    const std::size_t start = i_;
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ == start) ok_ = false;
    return s_.substr(start, i_ - start);
  }
  int month() {
    static constexpr std::array<std::string_view, 12> kMonths = {
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    const std::string_view w = word();
    for (std::size_t m = 0; m < kMonths.size(); ++m) {
      if (w.size() == 3 && std::tolower(static_cast<unsigned char>(w[0])) == kMonths[m][0] &&
          std::tolower(static_cast<unsigned char>(w[1])) == kMonths[m][1] &&
          std::tolower(static_cast<unsigned char>(w[2])) == kMonths[m][2]) {
        return static_cast<int>(m) + 1;
      }
    }
    ok_ = false;
    return 0;
  }
  void time(int& h, int& m, int& s) {
    h = number(2, 2);
    literal(':');
    m = number(2, 2);
    literal(':');
    s = number(2, 2);
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  bool ok_ = true;
};

std::optional<int64_t> to_unix_ms(int year, int month, int day, int h, int m, int s) {
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year},
                           std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || h > 23 || m > 59 || s > 60) return std::nullopt;
  const int64_t days = sys_days{ymd}.time_since_epoch().count();
  return ((days * 24 + h) * 60 + m) * 60'000LL + s * 1000LL;
}

// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
// asctime "Sun Nov  6 08:49:37 1994".
std::optional<int64_t> parse_http_date(std::string_view s) {
  int year = 0, month = 0, day = 0, h = 0, m = 0, sec = 0;
  DateReader r(s);
  (void)r.word();  // day name
  if (s.find(',') != std::string_view::npos) {
    r.literal(',');
    r.spaces();
    const bool rfc850 = s.find('-') != std::string_view::npos;
    day = r.number(2, 2);
    if (rfc850) {
      r.literal('-');
      month = r.month();
      r.literal('-');
      year = r.number(2, 2);
      year += year < 70 ? 2000 : 1900;  // the past a two-digit year can mean here
    } else {
      r.spaces();
      month = r.month();
      r.spaces();
      year = r.number(4, 4);
    }
    r.spaces();
    r.time(h, m, sec);
    r.spaces();
    if (r.word() != "GMT") return std::nullopt;
  } else {
    r.spaces();
    month = r.month();
    r.spaces();
    day = r.number(1, 2);
    r.spaces();
    r.time(h, m, sec);
    r.spaces();
    year = r.number(4, 4);
  }
  if (!r.ok()) return std::nullopt;
  return to_unix_ms(year, month, day, h, m, sec);
}

}  // namespace

std::optional<int64_t> parse_retry_after(std::string_view retry_after, int64_t now_unix_ms,
                                         std::string_view retry_after_ms) {
  if (auto ms = parse_delay(retry_after_ms, 1.0)) return ms;
  retry_after = trim(retry_after);
  if (retry_after.empty()) return std::nullopt;
  if (auto seconds = parse_delay(retry_after, 1000.0)) return seconds;
  if (auto at = parse_http_date(retry_after)) {
    return std::clamp<int64_t>(*at - now_unix_ms, 0, kMaxDelayMs);
  }
  return std::nullopt;
}

}  // namespace triage::control
