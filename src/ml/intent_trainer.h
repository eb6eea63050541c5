#pragma once
// `triage train intent`: the small-model tier's reference classifier, trained on CLINC150
// (150 intents + "oos"). Blocking and CPU-bound; offline only. Throws ModelError.
#include <cstdint>
#include <string>
#include <vector>

namespace triage::ml {

struct TrainReport {
  std::string model_path;
  std::string metadata_path;
  int64_t n_labels = 0;
  int64_t n_train = 0;
  int64_t n_validation = 0;
  double validation_accuracy = 0.0;  // top-1 on val_jsonl
  double train_seconds = 0.0;        // fastText training time
  double total_seconds = 0.0;        // including loading, writing and evaluation
};

// Hyperparameters tuned on CLINC150 (see the .cc); 2 threads.
TrainReport train_intent_model(const std::string& train_jsonl, const std::string& val_jsonl,
                               const std::string& out_path);

}  // namespace triage::ml
