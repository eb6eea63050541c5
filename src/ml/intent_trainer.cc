#include "ml/intent_trainer.h"

#include "common/clock.h"
#include "ml/datasets.h"
#include "ml/fasttext_model.h"

namespace triage::ml {

TrainReport train_intent_model(const std::string& train_jsonl, const std::string& val_jsonl,
                               const std::string& out_path) {
  auto start = SteadyClock::now();
  TrainSpec spec;
  spec.train = load_clinc150_jsonl(train_jsonl);
  spec.validation = load_clinc150_jsonl(val_jsonl);
  spec.out_path = out_path;
  spec.epoch = 25;
  spec.lr = 0.5;
  spec.word_ngrams = 2;
  spec.dim = 50;
  spec.bucket = 200000;
  spec.threads = 2;
  TrainResult r = train_classifier(spec);

  TrainReport report;
  report.model_path = r.model_path;
  report.metadata_path = r.metadata_path;
  report.n_labels = static_cast<int64_t>(r.labels.size());
  report.n_train = r.n_train;
  report.n_validation = r.n_validation;
  report.validation_accuracy = r.validation_accuracy.value_or(0.0);
  report.train_seconds = r.train_seconds;
  report.total_seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  return report;
}

}  // namespace triage::ml
