#include "datasets/split.h"

#include <boost/json.hpp>
#include <stdexcept>

namespace triage::datasets {

uint64_t fnv1a64(std::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

int split_bucket(std::string_view key, uint64_t seed) {
  std::string s = std::to_string(seed);
  s.push_back(':');
  s.append(key);
  return static_cast<int>(fnv1a64(s) % 10000);
}

SplitPart SplitRule::part(std::string_view key) const {
  const int b = split_bucket(key, seed);
  if (b < test_below) return SplitPart::kTest;
  if (b < calib_below) return SplitPart::kCalibration;
  return SplitPart::kFit;
}

boost::json::object SplitRule::to_json() const {
  return boost::json::object{
      {"rule", "bucket = fnv1a64(\"<seed>:<key>\") % 10000; test if bucket < test_below, "
               "calibration if bucket < calib_below, else fit"},
      {"key", key_column},
      {"seed", seed},
      {"buckets", 10000},
      {"test_below", test_below},
      {"calib_below", calib_below}};
}

SplitRule SplitRule::from_json(const boost::json::object& o) {
  SplitRule r;
  auto get_int = [&](std::string_view k) -> int64_t {
    const auto* v = o.if_contains(k);
    if (!v) throw std::invalid_argument("split." + std::string(k) + " is missing");
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    throw std::invalid_argument("split." + std::string(k) + " is not an integer");
  };
  const auto* key = o.if_contains("key");
  if (!key || !key->is_string()) throw std::invalid_argument("split.key is missing");
  r.key_column = std::string(key->as_string());
  const auto* seed = o.if_contains("seed");
  if (!seed) throw std::invalid_argument("split.seed is missing");
  if (seed->is_uint64()) {
    r.seed = seed->as_uint64();
  } else if (seed->is_int64() && seed->as_int64() >= 0) {
    r.seed = static_cast<uint64_t>(seed->as_int64());
  } else {
    throw std::invalid_argument("split.seed is not a non-negative integer");
  }
  r.test_below = static_cast<int>(get_int("test_below"));
  r.calib_below = static_cast<int>(get_int("calib_below"));
  if (r.test_below < 0 || r.test_below > 10000 || r.calib_below < r.test_below ||
      r.calib_below > 10000) {
    throw std::invalid_argument("split buckets out of range");
  }
  return r;
}

}  // namespace triage::datasets
