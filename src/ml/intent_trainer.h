#pragma once
// `triage train intent`: the small-model tier's reference classifier, trained on CLINC150
// (150 intents + "oos"), with a CALIBRATED top-1 confidence. Blocking and CPU-bound; offline
// only. Throws ModelError.
//
// Procedure (fixed, reproducible):
//  1. train.jsonl is split per intent (stratified) by a seeded hash of each example's text:
//     `calibration_fraction` of every intent's examples form the calibration slice, the rest
//     trains fastText. val.jsonl is never trained on.
//  2. The calibrator (ml/calibration.h) is fitted on the calibration slice: raw top-1
//     probability vs "top-1 label == gold label".
//  3. With neighbor_calibration (the default): the rows fastText trained on are written next
//     to the model as its reference utterances, and two more maps are fitted on the slice, one
//     for predictions whose nearest reference utterance has the predicted label and one for
//     the others (ml/intent_confidence.h).
//  4. The metadata JSON next to the model gets a "calibration" block (the map, the split rule,
//     the slice size, ECE on the slice), "neighbor_calibration" (the two maps, the reference
//     file and its SHA-256; null without) and "validation_calibration" (ECE on val.jsonl of
//     the raw and the served confidence, and the reliability table of the served one).
#include <cstdint>
#include <string>
#include <vector>

#include "ml/calibration.h"

namespace triage::ml {

struct IntentTrainOptions {
  std::string train_jsonl;
  std::string val_jsonl;  // reported on only; may be empty (no validation metrics)
  std::string out_path;
  double calibration_fraction = 0.15;    // share of each intent held out to fit the calibrator
  uint64_t split_seed = 17;              // seed of the held-out hash
  std::string calibration = "isotonic";  // isotonic | platt | none
  int isotonic_min_block = 1;            // see Calibrator::fit_isotonic
  // Also fit the neighbour-agreement maps (ml/intent_confidence.h) and write the reference
  // utterances next to the model (out_path + ".refs.jsonl"). Needs a calibration slice.
  bool neighbor_calibration = true;
  // fastText hyperparameters, chosen on CLINC150 (docs/evaluation.md). One thread makes the
  // model reproducible bit for bit (fastText's Hogwild updates are not with more); about 15 s
  // of CPU on CLINC150.
  int epoch = 50;
  double lr = 0.8;
  int word_ngrams = 2;
  int dim = 50;
  int minn = 0;
  int maxn = 0;
  int bucket = 200000;
  int threads = 1;
};

struct TrainReport {
  std::string model_path;
  std::string metadata_path;
  int64_t n_labels = 0;
  int64_t n_train = 0;        // examples fastText trained on
  int64_t n_calibration = 0;  // held-out slice the calibrator was fitted on
  int64_t n_validation = 0;
  double validation_accuracy = 0.0;  // top-1 on val_jsonl
  std::string calibration_method;
  double ece_validation_raw = 0.0;         // 15-bin ECE of the raw top-1 probability on val
  double ece_validation_calibrated = 0.0;  // ... after calibration
  double train_seconds = 0.0;              // fastText training time
  double total_seconds = 0.0;              // including loading, calibration, writing and evaluation
};

TrainReport train_intent_model(const IntentTrainOptions& options);

// Defaults of IntentTrainOptions for the three paths.
TrainReport train_intent_model(const std::string& train_jsonl, const std::string& val_jsonl,
                               const std::string& out_path);

// The calibration-slice mask over examples (texts[i], labels[i]): of each label's n examples,
// exactly round(fraction * n) are held out (true), the ones with the smallest seeded FNV-1a
// hash of their text (ties by position). Deterministic for a given (data, fraction, seed).
std::vector<bool> calibration_slice(const std::vector<std::string>& texts,
                                    const std::vector<std::string>& labels, double fraction,
                                    uint64_t seed);

}  // namespace triage::ml
