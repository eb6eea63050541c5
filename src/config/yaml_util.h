#pragma once
// Typed reads from YAML with path-precise errors. Shared by the config loader and by every
// extension that parses its own typed config (route kinds, checks, sinks), so that all of
// triage.yaml reports mistakes the same way:
//
//   FILE:LINE: PATH: what is wrong and how to fix it
//   triage.yaml:14: models[2].prices.input: expected a number, got 'cheap'
//
// Every failure throws config::ConfigError. Start-up only: never use this on the request path.
//
// Typical use, in a route kind's factory (RouteSpec carries the node, its path and its line):
//
//   MapReader r(spec.node, spec.path, cfg.path);
//   r.only({"name", "type", "model", "threshold", "children"});  // typos fail first, with a hint
//   opts.model = r["model"].as<std::string>();                   // required
//   opts.threshold = r["threshold"].get<double>(0.5, Range::between(0, 1));
//   for (const Field& child : r["children"].items()) {           // children[0], children[1]...
//     MapReader c = child.map();
//     ...
//   }
//
// Lines are 1-based. A field's line is the line of its key (a value that is a nested block
// starts on the next line; the key is where a reader looks). An absent field reports the line
// of the mapping that should have held it. List items report their own line.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace triage::config {

// Throws ConfigError "FILE:LINE: PATH: what" ("FILE:LINE: what" when path is empty).
[[noreturn]] void fail_at(const std::string& file, int line, std::string_view path,
                          std::string_view what);

// 1-based line of a parsed node; 0 when the node has no position (absent or built in code).
int line_of(const YAML::Node& node);

// Optimal-string-alignment edit distance (a transposition counts as one edit).
size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate when it is plausibly a typo of `got` (distance <= max(1, |got|/3)),
// else nullopt.
std::optional<std::string> closest(std::string_view got, const std::vector<std::string>& known);

// A hint to append to an "unknown X 'got'" message: " (did you mean 'x'?)" when one candidate
// is close, else " (known: a, b, c)"; empty when `known` is empty.
std::string suggest(std::string_view got, const std::vector<std::string>& known);

// How a scalar is shown in messages: 'value' quoted, long values shortened; "a mapping",
// "a list", "nothing" for the other node kinds.
std::string describe(const YAML::Node& node);

// Inclusive or exclusive bounds for numeric reads. Messages: "must be >= 0, got -1",
// "must be > 0, got 0", "must be between 0 and 1, got 1.5".
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;

  static Range at_least(double v) { return {v, std::numeric_limits<double>::infinity(), false}; }
  static Range above(double v) { return {v, std::numeric_limits<double>::infinity(), true}; }
  static Range between(double lo, double hi) { return {lo, hi, false}; }
};

class MapReader;

// One field of a mapping (or one item of a list): its node (possibly absent), its path for
// messages and its line. Cheap to copy; holds a reference-counted handle to the YAML tree.
//
// Typed reads take T in: std::string, bool, int, int64_t, double, std::vector<std::string>,
// std::map<std::string, std::string>. A value of the wrong kind fails with
// "expected a number, got 'cheap'" and similar. A field that is absent or explicitly null
// (`key:` or `key: ~`) counts as not present.
class Field {
 public:
  Field(YAML::Node node, std::string path, std::string file, int line);

  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  int line() const { return line_; }

  // Required: absent -> "missing required field 'KEY'". Required strings must not be empty.
  template <typename T>
  T as(Range range = {}) const {
    require_present();
    T v{};
    read(v, range, /*required=*/true);
    return v;
  }
  // Optional: absent -> fallback.
  template <typename T>
  T get(T fallback, Range range = {}) const {
    if (!present()) return fallback;
    T v{};
    read(v, range, /*required=*/false);
    return v;
  }
  template <typename T>
  std::optional<T> maybe(Range range = {}) const {
    if (!present()) return std::nullopt;
    T v{};
    read(v, range, /*required=*/false);
    return v;
  }

  // A string from a closed set: "unknown provider 'opnai' (known: openai, anthropic, ...)".
  // nullopt fallback: the field is required.
  std::string one_of(const std::vector<std::string>& known,
                     std::optional<std::string> fallback = std::nullopt) const;

  // A size in bytes: an integer, or a string with a unit: "512KiB", "4 MiB", "1GB", "100kB"
  // (KiB/MiB/GiB are powers of 1024; kB/KB/MB/GB powers of 1000; "B" is bytes). Must be > 0.
  int64_t bytes(int64_t fallback) const;

  // The field as a mapping; absent -> an empty mapping (so nested blocks can be optional).
  // Present but not a mapping -> "expected a mapping, got ...".
  MapReader map() const;
  // The field as a list of fields with paths "PATH[i]"; absent -> empty.
  std::vector<Field> items() const;

  // Throws ConfigError at this field: "FILE:LINE: PATH: what".
  [[noreturn]] void fail(std::string_view what) const;

 private:
  void require_present() const;
  void read(std::string& out, const Range& range, bool required) const;
  void read(bool& out, const Range& range, bool required) const;
  void read(int& out, const Range& range, bool required) const;
  void read(int64_t& out, const Range& range, bool required) const;
  void read(double& out, const Range& range, bool required) const;
  void read(std::vector<std::string>& out, const Range& range, bool required) const;
  void read(std::map<std::string, std::string>& out, const Range& range, bool required) const;
  void check_range(double v, const Range& range) const;

  YAML::Node node_;
  std::string path_;
  std::string file_;
  int line_ = 0;
};

// A mapping being read. Construction fails when the node is present but not a mapping, when
// a key is not a plain scalar, or when a key appears twice ("duplicate field 'x' (first at
// line N)"; yaml-cpp would otherwise keep the first silently).
//
// Unknown-field checking, two ways (use one per mapping):
//  - only({...}) up front: any other key fails at once with a suggestion. Preferred: a typo
//    ("nmae") is then reported instead of the "missing required field 'name'" it causes.
//  - finish() at the end: every key not read with operator[] (or allow()ed) fails.
class MapReader {
 public:
  // `path` is the path of this mapping ("" for the document root); `line` is used for
  // errors about absent fields when the node itself has no position (e.g. an absent block).
  MapReader(YAML::Node node, std::string path, std::string file, int line = 0);

  // The field KEY (present or not); records KEY as known.
  Field operator[](std::string_view key);
  bool has(std::string_view key) const;

  // Declares the complete set of keys and fails on any other key. Also marks them known.
  void only(std::initializer_list<std::string_view> keys);
  void only(const std::vector<std::string>& keys);  // the same, for a set known at run time
  // Marks keys as known without reading them (read elsewhere, e.g. by another module).
  void allow(std::initializer_list<std::string_view> keys);
  // Fails on the first key (in file order) that was neither read, allowed nor declared.
  void finish() const;

  // All entries in file order, for free-form mappings (label -> text); marks them known.
  std::vector<std::pair<std::string, Field>> entries();

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  std::string child_path(std::string_view key) const;
  [[noreturn]] void fail(std::string_view what) const;

 private:
  void check_unknown(const std::vector<std::string>& known) const;

  YAML::Node node_;
  std::string path_;
  std::string file_;
  int line_ = 0;
  std::vector<std::string> known_;  // in declaration order, for suggestions
};

}  // namespace triage::config
