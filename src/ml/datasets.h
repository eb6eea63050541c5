#pragma once
// Loaders for the labeled datasets under data/ (offline and start-up use: they THROW
// ModelError naming the file and line).
#include <string>
#include <string_view>
#include <vector>

#include "ml/fasttext_model.h"

namespace triage::ml {

// CLINC150 JSON lines: one {"text": ..., "intent": ...} object per line (blank lines skipped).
// Extra fields are ignored; a missing or non-string field is an error with path:line.
std::vector<LabeledExample> load_clinc150_jsonl(const std::string& path);
// The same over text already in memory; `source` names it in errors ("source:line: ...").
std::vector<LabeledExample> parse_clinc150_jsonl(std::string_view text, const std::string& source);

}  // namespace triage::ml
