#pragma once
// Cross-fitted training of the "gain" router scorer (ml/gain_router.h) for `triage train
// router`. The train part is cut into K folds (train::fold_of). Every input a regression is
// fitted on is computed without the row's own fold: category rates, medians and neighbour
// residuals come from the other folds only, and a row's neighbours are searched among them
// (in its category: ml::GainNeighborhoods). The selection estimate is nested: for each
// outer fold f, both regressions are fitted on the other folds' rows, whose inputs also
// exclude f, and score fold f. The served regressions are
// fitted on every train row's out-of-fold inputs; the served rates, medians and neighbours use
// the whole train part. The TF-IDF document frequencies (text only, no grades) are computed
// once over each category's train prompts, as serving computes them. Blocking, CPU-bound,
// offline only.
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "ml/gain_router.h"

namespace triage::train {

struct GainTrainRow {
  std::string prompt;
  std::string category;
  double weak = 0.0;
  double strong = 0.0;
  int fold = 0;  // 0..folds-1
};

struct GainTrainResult {
  std::vector<double> cv_scores;  // nested out-of-fold P(strong right) - P(weak right), per row
  ml::GainRouter::Target strong, weak;  // the served regressions and whole-train rates
  ml::CategoryMedians medians;
};

GainTrainResult train_gain_router(const std::vector<GainTrainRow>& rows, int folds);

// The metadata block ("router" -> "gain") of a trained result; `references_file` is the file
// name (next to the model) holding the reference rows, `references_sha256` its digest.
boost::json::object gain_metadata(const GainTrainResult& r, const std::string& references_file,
                                  const std::string& references_sha256, std::size_t n_refs);

// Writes the reference rows (prompt, category, strong, weak) as JSON lines.
void write_gain_references(const std::string& path, const std::vector<GainTrainRow>& rows);

}  // namespace triage::train
