#pragma once
// The fixed train/test split of a labeled dataset. Deterministic and order-independent: a
// row's part depends only on its key (the `id` column, else the prompt) and the seed, so the
// same row lands in the same part on every machine, in any file that contains it, and
// `triage eval` can re-apply the split recorded in a model's metadata.
//
//   bucket = FNV-1a-64("<seed>:<key>") mod 10000
//   bucket <  test_below               -> test          (held out: only `triage eval` sees it)
//   bucket <  calib_below (and not test)-> calibration   (held out of fitting; Platt + selection)
//   otherwise                          -> fit
//
// Defaults: 20% test, 16% calibration (20% of the train part), 64% fit, seed 20240601.
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace triage::datasets {

enum class SplitPart { kFit, kCalibration, kTest };

struct SplitRule {
  std::string key_column = "id";  // falls back to the prompt when the dataset has no id column
  uint64_t seed = 20240601;
  int test_below = 2000;   // of 10000 buckets
  int calib_below = 3600;  // of 10000 buckets; >= test_below

  SplitPart part(std::string_view key) const;

  // {"rule": "...", "key": "id", "seed": ..., "test_below": ..., "calib_below": ...,
  //  "buckets": 10000}, as stored in model metadata.
  boost::json::object to_json() const;
  // Throws std::invalid_argument when a field is missing or out of range.
  static SplitRule from_json(const boost::json::object& o);
};

uint64_t fnv1a64(std::string_view data);
// FNV-1a-64 of "<seed>:<key>" mod 10000.
int split_bucket(std::string_view key, uint64_t seed);

}  // namespace triage::datasets
