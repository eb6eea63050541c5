#pragma once
// The "gain" router scorer: ranks a request by P(strong model right) - P(weak model right),
// each probability a ridge logistic regression on the same 27 inputs:
//   0      logit of the request category's smoothed rate of "this model right" (training rows)
//   1, 2   what happened on similar training questions: the similarity-weighted mean residual
//          (right - its category's rate) of the 25 nearest training prompts (whole prompt) and
//          of the 50 nearest question stems of the request's category (TF-IDF cosine;
//          ml::GainNeighborhoods, which also says what a request without one searches)
//   3..25  ml::prompt_features (option structure, length, digits, negations, ...)
//   26     log question length minus the category's median (training rows)
// Inputs are standardised with the training means and standard deviations stored with the
// model. Why two models and a difference: routing pays off where strong is right AND weak is
// wrong; on MMLU much of the usable signal is on the side where the strong model fails
// (docs/evaluation.md). The score lies in [-1, 1]; a threshold router sends scores above its
// threshold to the strong model.
//
// The reference rows (the training part: prompt, category, both grades) ship with the model
// (`triage train router` writes them next to it) because the neighbour inputs search them.
// Immutable after construction; score() is const and thread-safe. Cost: two neighbour searches
// over the category's reference prompts per request (docs/performance.md, "Router decisions").
#include <array>
#include <boost/json/object.hpp>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ml/gain_neighbors.h"
#include "ml/prompt_features.h"
#include "ml/text.h"
#include "ml/tfidf_knn.h"

namespace triage::ml {

// Recorded in the metadata and checked at load, with the neighbour counts, the prompt cap and
// kPromptFeaturesVersion: bump it when the inputs or the neighbour search change meaning
// (3: neighbours within the request's category).
inline constexpr std::string_view kGainFormat = "triage-gain-router/3";
inline constexpr std::size_t kGainInputCount = 3 + kPromptFeatureCount + 1;
inline constexpr std::size_t kGainNeighborsFull = 25;
inline constexpr std::size_t kGainNeighborsStem = 50;
inline constexpr double kGainCategorySmoothing = 20.0;  // pseudo-rows at the overall rate
inline constexpr double kGainRidge = 1.0;               // L2 on the standardised weights
// Postings kept per term in both neighbour indexes (ml::TfidfIndex, max_postings_per_term):
// a search reads at most this many documents per query term, which bounds a decision's cost
// (format 2; format 1 read every posting, ~150 us per decision on MMLU). 64 was chosen by the
// nested cross-validated APGR on the train parts of MMLU and GSM8K (docs/evaluation.md).
inline constexpr std::size_t kGainPostingsPerTerm = 64;
// Only the first this many bytes of a prompt are read (features and neighbour search), in
// training and serving alike, so a request's routing cost is bounded whatever its size.
inline constexpr std::size_t kGainMaxPromptBytes = kMaxModelTextBytes;

// The part of `prompt` the gain router reads.
std::string_view gain_text(std::string_view prompt);

using GainInputs = std::array<double, kGainInputCount>;
const std::array<std::string, kGainInputCount>& gain_input_names();

struct GainReference {
  std::string prompt;
  std::string category;
  double strong = 0.0;  // grades 0..1
  double weak = 0.0;
};

// Smoothed per-category rate: (sum + k * prior) / (n + k); unknown or empty -> prior.
struct SmoothedRates {
  std::map<std::string, double, std::less<>> rates;
  double prior = 0.5;
  double rate(std::string_view category) const;
  static SmoothedRates fit(const std::vector<std::string_view>& categories,
                           const std::vector<double>& y, double smoothing);
};

// Median of log question length per category (unknown or empty -> the overall median).
struct CategoryMedians {
  std::map<std::string, double, std::less<>> medians;
  double overall = 0.0;
  double median(std::string_view category) const;
  static CategoryMedians fit(const std::vector<std::string_view>& categories,
                             const std::vector<double>& values);
};

// A standardised ridge logistic regression.
struct LinearProbability {
  std::vector<double> mean, sd, weights;
  double bias = 0.0;
  double probability(const GainInputs& x) const;
  // Fits on rows x (0/1 targets y) by Newton's method: standardisation from x (population sd;
  // 0 -> 1), L2 `ridge` on the weights (not the bias), at most `iterations` steps.
  static LinearProbability fit(const std::vector<GainInputs>& x, const std::vector<double>& y,
                               double ridge = kGainRidge, int iterations = 25);
};

// The inputs of one prompt (already cut by gain_text), from its category's rate for the
// target, its neighbours with the reference rows' residuals for the target, and its category's
// median question length. The target-independent part (prompt features, relative length) is
// computed once by gain_shared_inputs and completed per target by gain_inputs_for.
GainInputs gain_shared_inputs(std::string_view prompt, double category_median_qlen);
GainInputs gain_inputs_for(GainInputs shared, double category_rate,
                           const std::vector<Neighbor>& full, const std::vector<Neighbor>& stem,
                           const std::vector<double>& residual);
GainInputs gain_inputs(std::string_view prompt, double category_rate,
                       const std::vector<Neighbor>& full, const std::vector<Neighbor>& stem,
                       const std::vector<double>& residual, double category_median_qlen);

// The served model: the reference rows indexed, both targets' rates and regressions.
class GainRouter {
 public:
  struct Target {
    SmoothedRates rates;
    LinearProbability model;
  };
  GainRouter(std::vector<GainReference> references, Target strong, Target weak,
             CategoryMedians medians);

  // P(strong right) - P(weak right), in [-1, 1].
  double score(std::string_view prompt, std::string_view category) const;
  // Both probabilities (strong first).
  std::pair<double, double> probabilities(std::string_view prompt,
                                          std::string_view category) const;
  std::size_t reference_count() const { return refs_.size(); }
  // True when `prompt` is one of the reference (training) prompts: scoring it finds its own
  // grades among its neighbours, so an evaluation on such rows is optimistic.
  bool is_reference(std::string_view prompt) const {
    return reference_prompts_.count(gain_text(prompt)) > 0;
  }

 private:
  std::vector<GainReference> refs_;
  Target strong_, weak_;
  CategoryMedians medians_;
  std::unique_ptr<GainNeighborhoods> neighborhoods_;
  std::vector<double> residual_strong_, residual_weak_;  // per reference row
  std::unordered_set<std::string_view> reference_prompts_;  // views into refs_ (gain_text)
  // What a request's category gives both targets, looked up once per decision (three ordered
  // maps of strings had cost a dozen string comparisons); the same values as the rates' and
  // medians' own lookups.
  struct CategoryInputs {
    double strong_rate, weak_rate, median_qlen;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, CategoryInputs, StringHash, std::equal_to<>> by_category_;
  CategoryInputs category_inputs(std::string_view category) const;
};

// Builds the served router from its metadata block (router -> gain, as `triage train router`
// writes it) and the reference rows file it names, resolved next to `model_path`. Throws
// std::invalid_argument naming the bad field, or the references file when it is missing,
// altered (SHA-256) or unreadable; the caller adds the metadata path.
std::shared_ptr<const GainRouter> load_gain_router(const boost::json::object& gain,
                                                   const std::string& model_path);

}  // namespace triage::ml
