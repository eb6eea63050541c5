// The CSV dataset reader (parse_csv) and what `triage eval`/`train` do with a parsed table
// (datasets/dataset_rows.h). Contract: a rectangular table with unique, non-empty header names,
// or a CsvError naming the source; the row functions accept any table.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common/csv.h"
#include "datasets/dataset_rows.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  triage::CsvTable table;
  try {
    table = triage::parse_csv(text, "fuzz.csv");
  } catch (const triage::CsvError& e) {
    FUZZ_CHECK(std::string_view(e.what()).substr(0, 8) == "fuzz.csv");
    return 0;
  }
  std::set<std::string, std::less<>> names;
  for (const auto& h : table.header) {
    FUZZ_CHECK(!h.empty());
    FUZZ_CHECK(names.insert(h).second);
    FUZZ_CHECK(table.column(h).has_value());
  }
  for (const auto& row : table.rows) {
    FUZZ_CHECK(row.size() == table.header.size());
    for (const auto& cell : row) {
      if (auto v = triage::datasets::parse_number_cell(cell)) FUZZ_CHECK(*v == *v);  // not NaN
    }
  }
  (void)triage::datasets::category_column(table);
  (void)table.columns_list();
  if (table.header.empty()) return 0;
  const triage::datasets::SplitRule split;  // keyed by `id` when present, else the prompt
  const auto all = triage::datasets::select_eval_rows(table, 0, std::nullopt);
  const auto test = triage::datasets::select_eval_rows(table, 0, split);
  FUZZ_CHECK(all.rows.size() + static_cast<size_t>(all.missing_prompt) == table.rows.size());
  FUZZ_CHECK(test.rows.size() + static_cast<size_t>(test.missing_prompt + test.excluded_train) ==
             table.rows.size());
  return 0;
}
