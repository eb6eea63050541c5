#include "config/yaml_util.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <system_error>

namespace triage::config {
namespace {

constexpr size_t kMaxShown = 40;  // longer scalars are shortened in messages

// Shortest round-trip text of a number ("0.5", "1e+06", "-1").
std::string format_number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whole-string integer parse: optional sign, decimal digits only.
bool parse_int(std::string_view s, int64_t& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Whole-string finite decimal number parse ("0.5", "2", "1e-3", "-1"); no nan/inf.
bool parse_double(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, std::chars_format::general);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

}  // namespace

[[noreturn]] void fail_at(const std::string& file, int line, std::string_view path,
                          std::string_view what) {
  std::string msg = file.empty() ? std::string("<config>") : file;
  if (line > 0) msg += ":" + std::to_string(line);
  msg += ": ";
  if (!path.empty()) {
    msg += path;
    msg += ": ";
  }
  msg += what;
  throw ConfigError(msg);
}

int line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  const YAML::Mark m = node.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::optional<std::string> closest(std::string_view got, const std::vector<std::string>& known) {
  const std::string g = lower(got);
  const size_t limit = std::max<size_t>(1, got.size() / 3);
  std::optional<std::string> best;
  size_t best_d = limit + 1;
  for (const auto& k : known) {
    const size_t d = edit_distance(g, lower(k));
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

std::string suggest(std::string_view got, const std::vector<std::string>& known) {
  if (known.empty()) return {};
  if (auto c = closest(got, known)) return " (did you mean '" + *c + "'?)";
  return " (known: " + join(known) + ")";
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  std::string s = node.Scalar();
  if (s.size() > kMaxShown) s = s.substr(0, kMaxShown - 3) + "...";
  return "'" + s + "'";
}

// ---- Field ----

Field::Field(YAML::Node node, std::string path, std::string file, int line)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), line_(line) {}

void Field::fail(std::string_view what) const { fail_at(file_, line_, path_, what); }

void Field::require_present() const {
  if (present()) return;
  const size_t dot = path_.find_last_of('.');
  const std::string key = dot == std::string::npos ? path_ : path_.substr(dot + 1);
  fail("missing required field '" + key + "'");
}

void Field::check_range(double v, const Range& r) const {
  const bool low = r.min_exclusive ? !(v > r.min) : v < r.min;
  if (!low && !(v > r.max)) return;
  const std::string got = ", got " + format_number(v);
  if (std::isfinite(r.min) && std::isfinite(r.max))
    fail("must be between " + format_number(r.min) + " and " + format_number(r.max) + got);
  if (low)
    fail(std::string("must be ") + (r.min_exclusive ? "> " : ">= ") + format_number(r.min) + got);
  fail("must be <= " + format_number(r.max) + got);
}

void Field::read(std::string& out, const Range&, bool required) const {
  if (!node_.IsScalar()) fail("expected a string, got " + describe(node_));
  out = node_.Scalar();
  if (required && out.empty()) fail("must not be empty");
}

void Field::read(bool& out, const Range&, bool) const {
  if (node_.IsScalar()) {
    const std::string s = lower(node_.Scalar());
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
      return;
    }
    if (s == "false" || s == "no" || s == "off") {
      out = false;
      return;
    }
  }
  fail("expected true or false, got " + describe(node_));
}

void Field::read(int64_t& out, const Range& range, bool) const {
  if (!node_.IsScalar() || !parse_int(node_.Scalar(), out)) {
    double d = 0;
    if (node_.IsScalar() && parse_double(node_.Scalar(), d))
      fail("expected a whole number, got " + describe(node_));
    fail("expected an integer, got " + describe(node_));
  }
  check_range(static_cast<double>(out), range);
}

void Field::read(int& out, const Range& range, bool required) const {
  int64_t v = 0;
  read(v, range, required);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    fail("integer out of range, got " + describe(node_));
  out = static_cast<int>(v);
}

void Field::read(double& out, const Range& range, bool) const {
  if (!node_.IsScalar() || !parse_double(node_.Scalar(), out))
    fail("expected a number, got " + describe(node_));
  check_range(out, range);
}

void Field::read(std::vector<std::string>& out, const Range&, bool) const {
  if (!node_.IsSequence()) fail("expected a list of strings, got " + describe(node_));
  for (const Field& item : items()) {
    if (!item.node().IsScalar()) item.fail("expected a string, got " + describe(item.node()));
    out.push_back(item.node().Scalar());
  }
}

void Field::read(std::map<std::string, std::string>& out, const Range&, bool) const {
  MapReader m = map();
  for (auto& [key, value] : m.entries()) {
    if (!value.node().IsScalar()) value.fail("expected a string, got " + describe(value.node()));
    out[key] = value.node().Scalar();
  }
}

std::string Field::one_of(const std::vector<std::string>& known,
                          std::optional<std::string> fallback) const {
  if (!present() && fallback) return *fallback;
  const std::string v = as<std::string>();
  if (std::find(known.begin(), known.end(), v) != known.end()) return v;
  const size_t dot = path_.find_last_of('.');
  const std::string key = dot == std::string::npos ? path_ : path_.substr(dot + 1);
  fail("unknown " + key + " '" + v + "' (known: " + join(known) + ")");
}

int64_t Field::bytes(int64_t fallback) const {
  if (!present()) return fallback;
  if (!node_.IsScalar()) fail("expected a size in bytes, got " + describe(node_));
  const std::string s = node_.Scalar();
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  int64_t n = 0;
  const std::string_view digits(s.data(), i);
  std::string unit = lower(std::string_view(s).substr(i));
  unit.erase(0, unit.find_first_not_of(' '));
  static const std::vector<std::pair<std::string, int64_t>> kUnits = {
      {"", 1},      {"b", 1},        {"kib", 1LL << 10}, {"mib", 1LL << 20}, {"gib", 1LL << 30},
      {"kb", 1000}, {"mb", 1000000}, {"gb", 1000000000}};
  auto it =
      std::find_if(kUnits.begin(), kUnits.end(), [&](const auto& u) { return u.first == unit; });
  if (digits.empty() || !parse_int(digits, n) || it == kUnits.end())
    fail("expected a size like 1048576, \"512KiB\" or \"4MiB\", got " + describe(node_));
  if (n <= 0) fail("must be > 0, got " + describe(node_));
  if (n > std::numeric_limits<int64_t>::max() / it->second)
    fail("size too large: " + describe(node_));
  return n * it->second;
}

MapReader Field::map() const {
  if (present() && !node_.IsMap()) fail("expected a mapping, got " + describe(node_));
  return MapReader(present() ? node_ : YAML::Node(YAML::NodeType::Map), path_, file_, line_);
}

std::vector<Field> Field::items() const {
  std::vector<Field> out;
  if (!present()) return out;
  if (!node_.IsSequence()) fail("expected a list, got " + describe(node_));
  out.reserve(node_.size());
  for (size_t i = 0; i < node_.size(); ++i) {
    const YAML::Node item = node_[i];
    const int line = line_of(item);
    out.emplace_back(item, path_ + "[" + std::to_string(i) + "]", file_, line > 0 ? line : line_);
  }
  return out;
}

// ---- MapReader ----

MapReader::MapReader(YAML::Node node, std::string path, std::string file, int line)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)) {
  const int own = line_of(node_);
  line_ = own > 0 ? own : line;
  if (!node_.IsDefined() || node_.IsNull()) {
    node_ = YAML::Node(YAML::NodeType::Map);
    return;
  }
  if (!node_.IsMap()) fail("expected a mapping, got " + describe(node_));
  std::map<std::string, int> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar())
      fail_at(file_, line_of(it->first), path_,
              "field names must be plain strings, got " + describe(it->first));
    const std::string& key = it->first.Scalar();
    const int key_line = line_of(it->first);
    auto [prev, inserted] = seen.emplace(key, key_line);
    if (!inserted)
      fail_at(file_, key_line, child_path(key),
              "duplicate field '" + key + "' (first at line " + std::to_string(prev->second) + ")");
  }
}

std::string MapReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void MapReader::fail(std::string_view what) const { fail_at(file_, line_, path_, what); }

bool MapReader::has(std::string_view key) const {
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (it->first.Scalar() == key) return true;
  return false;
}

Field MapReader::operator[](std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.Scalar() == key)
      return Field(it->second, child_path(key), file_, line_of(it->first));
  }
  return Field(YAML::Node(), child_path(key), file_, line_);
}

void MapReader::allow(std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (std::find(known_.begin(), known_.end(), k) == known_.end()) known_.emplace_back(k);
}

void MapReader::only(std::initializer_list<std::string_view> keys) {
  std::vector<std::string> declared(keys.begin(), keys.end());
  check_unknown(declared);
  allow(keys);
}

void MapReader::only(const std::vector<std::string>& keys) {
  check_unknown(keys);
  for (const std::string& k : keys)
    if (std::find(known_.begin(), known_.end(), k) == known_.end()) known_.push_back(k);
}

void MapReader::finish() const { check_unknown(known_); }

void MapReader::check_unknown(const std::vector<std::string>& known) const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string& key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    fail_at(file_, line_of(it->first), child_path(key),
            "unknown field '" + key + "'" + suggest(key, known));
  }
}

std::vector<std::pair<std::string, Field>> MapReader::entries() {
  std::vector<std::pair<std::string, Field>> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
    out.emplace_back(key, Field(it->second, child_path(key), file_, line_of(it->first)));
  }
  return out;
}

}  // namespace triage::config
