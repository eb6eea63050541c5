#pragma once
// Reading labeled CSV datasets, shared by `triage eval` and the `triage train` commands: grade
// cells, the file hash recorded in model metadata, and the evaluated part of a file (the rows
// with a prompt, restricted to the test part of a model's recorded split). Pure functions over
// a CsvTable, except file_sha256() and read_trained_split(), which read files.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/csv.h"
#include "datasets/split.h"

namespace triage::datasets {

// A numeric cell of a dataset (a grade, a recorded cost): "1", "0.5", "True"/"False" (spaces
// around are ignored); nullopt when missing, not a number or not finite ("nan", "inf": never
// read as 0, nor allowed to poison a mean).
std::optional<double> parse_number_cell(const CsvCell& cell);

// SHA-256 (hex) of a file's bytes. Throws ml::ModelError when unreadable.
std::string file_sha256(const std::string& path);

// file_sha256 of the dataset `triage eval` reads. Throws std::runtime_error "dataset <path> does
// not exist" when it is not a regular file.
std::string eval_dataset_sha256(const std::string& path);

// The request-category column of a dataset: `subject`, else `category`, else nullopt.
std::optional<std::size_t> category_column(const CsvTable& table);

// The grade column suffix of multi-model (RouterBench) data: `<model>|score`.
inline constexpr std::string_view kModelScoreSuffix = "|score";

// Model names of a multi-model (RouterBench) header: its `<model>|score` columns, in file order.
std::vector<std::string> routerbench_models(const std::vector<std::string>& header);

// What a trained model's metadata says about its training data.
struct TrainedSplit {
  std::optional<SplitRule> rule;            // the split it was trained with
  std::vector<std::string> trained_sha256;  // hashes of the files it was trained on
};

// Reads the metadata of `model_path` (ml::metadata_path_for) and, from the first of `blocks`
// present at its top level, the "split" rule and the training files' hashes
// ("data_file_sha256", a string, and "data_files": [{"sha256": ...}]). Tolerant: a missing or
// unreadable file, or a block that is not an object, gives an empty result.
TrainedSplit read_trained_split(const std::string& model_path,
                                std::initializer_list<std::string_view> blocks);

// The split `triage eval` applies (EvalOptions::split): "all" never; "test" always (throws
// std::runtime_error "--split test: the route has no <whose> metadata with a split rule" when
// there is none); "auto" when the dataset's hash is among the trained ones.
std::optional<SplitRule> eval_split(const std::string& split_option, const TrainedSplit& trained,
                                    const std::string& dataset_sha256, std::string_view whose);

// "test part of the <whose>'s split (<key> hash, seed <seed>)" or "none (all rows)".
std::string split_description(const std::optional<SplitRule>& split, std::string_view whose);

// The rows an evaluation reads: those with a prompt and, with a split, in its test part (the key
// is the split's key column, else the prompt). Views into the table; the others are counted.
struct EvalRows {
  std::vector<const CsvRow*> rows;
  int64_t missing_prompt = 0;
  int64_t excluded_train = 0;
};
// With train_part, the complement instead: the rows OUTSIDE the test part (where a route's knob
// is chosen by `triage eval --split train --cv K`); the test rows are counted as excluded_train.
EvalRows select_eval_rows(const CsvTable& table, std::size_t prompt_col,
                          const std::optional<SplitRule>& split, bool train_part = false);

}  // namespace triage::datasets
