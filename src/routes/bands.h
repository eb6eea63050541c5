#pragma once
// Confidence bands of a classifier route (`classify`, routes/classify_route.h) and the pure
// decision it makes for one text: what the route runs and what `triage eval` scores
// (routes/eval_family.h), so both read the same types.
#include <string>
#include <string_view>

namespace triage::routes {

class Route;

struct Bands {
  double use = 0.95;   // at or above: use the prediction
  double flag = 0.80;  // at or above (and below use): use it and flag for review
};

enum class Band { kUse, kFlag, kEscalate };
std::string_view band_name(Band b);

// The band of a calibrated confidence.
inline Band band_of(double confidence, const Bands& bands) {
  if (confidence >= bands.use) return Band::kUse;
  if (confidence >= bands.flag) return Band::kFlag;
  return Band::kEscalate;
}

// What the classifier says about one request, and where that sends it.
struct ClassifyDecision {
  std::string label;        // empty when the text had no features
  double confidence = 0.0;  // calibrated
  double raw_confidence = 0.0;
  Band band = Band::kEscalate;
  Route* predicted = nullptr;  // the label's target (or the default)
  Route* chosen = nullptr;     // where the request goes
  bool escalated = false;      // chosen is one tier above predicted
};

}  // namespace triage::routes
