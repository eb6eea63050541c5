#pragma once
// Confidence calibration of a classifier's top-1 probability: a monotone map fitted on a
// held-out slice (pairs of raw top-1 probability, "was the top-1 label right"), stored in the
// model's metadata JSON under "calibration" and applied at predict time by the local provider
// and the `classify` route, so that a calibrated 0.95 means "about 95% of such predictions are
// right".
//
// Methods:
//  - isotonic: pool-adjacent-violators on the held-out pairs, then linear interpolation
//    between the fitted blocks' mean raw scores (clamped at both ends). Non-decreasing.
//  - platt: sigmoid(a * logit(p) + b), fitted by Newton's method on the log loss.
//  - identity: no calibration (models trained without a held-out slice).
//
// Thread-safety: a Calibrator is immutable after construction; apply() is const and pure.
// Fitting and loading are offline / start-up work and THROW ModelError.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace triage::ml {

class Calibrator {
 public:
  enum class Method { kIdentity, kIsotonic, kPlatt };

  Calibrator() = default;  // identity

  // `scores` are raw probabilities (0..1), `correct` the outcomes; same length, non-empty.
  // Isotonic: after pooling, adjacent blocks are merged until each holds at least `min_block`
  // examples (the last one merges backwards), which keeps small held-out sets from producing
  // a staircase of noisy steps; the map stays non-decreasing. min_block 1 = plain PAV.
  static Calibrator fit_isotonic(const std::vector<double>& scores,
                                 const std::vector<bool>& correct, int min_block = 1);
  static Calibrator fit_platt(const std::vector<double>& scores, const std::vector<bool>& correct);

  // The calibrated probability, in [0, 1]. Non-decreasing in p.
  double apply(double p) const;

  Method method() const { return method_; }
  std::string method_name() const;
  // Isotonic breakpoints (raw score -> calibrated), increasing in x.
  const std::vector<double>& xs() const { return xs_; }
  const std::vector<double>& ys() const { return ys_; }

  // {"method": "isotonic", "x": [...], "y": [...]} / {"method": "platt", "a", "b"} /
  // {"method": "identity"}.
  boost::json::object to_json() const;
  // Inverse of to_json. Throws ModelError("<where>: ...") on a malformed block (unknown method,
  // x/y of different lengths, x not increasing, y not non-decreasing or outside 0..1).
  static Calibrator from_json(const boost::json::value& v, const std::string& where);
  // The calibrator stored in metadata_path_for(model_path) under "calibration"; identity when
  // the metadata file or the block is absent. Throws ModelError on an unreadable or malformed
  // metadata file.
  static Calibrator for_model(const std::string& model_path);

 private:
  Method method_ = Method::kIdentity;
  std::vector<double> xs_, ys_;
  double a_ = 1.0, b_ = 0.0;
};

// One bin of a reliability table: predictions whose confidence fell in [lo, hi).
struct ReliabilityBin {
  double lo = 0.0, hi = 0.0;
  int64_t n = 0;
  double mean_confidence = 0.0;  // 0 when n == 0
  double accuracy = 0.0;         // share right; 0 when n == 0
};

// `bins` equal-width bins over [0, 1] (the last one includes 1.0).
std::vector<ReliabilityBin> reliability_table(const std::vector<double>& confidence,
                                              const std::vector<bool>& correct, int bins = 10);

// Expected calibration error: sum over equal-width bins of (n_bin / n) * |accuracy -
// mean confidence|. 0 for empty input. 15 bins is the usual reporting choice.
double expected_calibration_error(const std::vector<double>& confidence,
                                  const std::vector<bool>& correct, int bins = 15);

}  // namespace triage::ml
