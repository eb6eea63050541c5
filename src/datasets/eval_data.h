#pragma once
// The dataset a `triage eval` run reads, read once: its file hash, its format and its rows.
// Which evaluator runs depends on the format and on the route's evaluation family
// (routes/eval_family.h, eval/eval.h).
//
// Formats:
//  - intent lines: JSON lines (the first non-blank byte is '{'), one {"text": ..., "intent": ...}
//    per line (CLINC150; "oos" for out-of-scope). Lines without a string text and a non-empty
//    string intent are counted and skipped, never read.
//  - multi-model: a CSV with `<model>|score` columns (RouterBench: `<model>|cost`,
//    `<model>|response` beside them).
//  - graded: any other CSV (RouteLLM pairs: weak_correct, strong_correct, ...; replay models
//    name their columns).
#include <cstdint>
#include <string>
#include <vector>

#include "common/csv.h"

namespace triage::datasets {

enum class DatasetFormat { kIntentLines, kMultiModel, kGraded };

struct IntentRow {
  std::string text, intent;
};

struct EvalData {
  std::string path;
  std::string sha256;  // of the file's bytes (eval_dataset_sha256)
  DatasetFormat format = DatasetFormat::kGraded;
  CsvTable table;                  // multi-model and graded data
  std::vector<IntentRow> intents;  // intent lines: the valid rows, in file order
  int64_t invalid_intent_rows = 0;  // intent lines: lines skipped
};

// Reads `path`. Throws std::runtime_error "dataset <path> does not exist" (not a regular file),
// "dataset <path> cannot be opened", "<path>: no rows with a text and an intent" (intent lines
// without one valid row) and CsvError (malformed CSV).
EvalData read_eval_data(const std::string& path);

}  // namespace triage::datasets
