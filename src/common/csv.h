#pragma once
// RFC 4180 CSV reading (libcsv underneath) for the datasets Triage ships and evaluates on.
//
// Errors: this runs at start-up and in offline commands, so it THROWS CsvError (never returns a
// partial table). The message names the file, the physical line and the record number
// ("data/x.csv:17 (record 12): expected 6 fields, found 5").
//
// Cells: an empty unquoted cell (",,") is std::nullopt, so a missing value is never confused
// with "0" or with text. A quoted empty cell ("") is a present, empty string. Quoted cells may
// hold commas, doubled quotes and newlines; unquoted cells keep their surrounding spaces.
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace triage {

class CsvError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using CsvCell = std::optional<std::string>;
using CsvRow = std::vector<CsvCell>;

struct CsvTable {
  std::string source;               // file path (or the name given to parse_csv), for messages
  std::vector<std::string> header;  // first record; names are unique
  std::vector<CsvRow> rows;         // every row has header.size() cells

  // Index of a column by exact name, or nullopt.
  std::optional<std::size_t> column(std::string_view name) const;
  // Header names joined with ", " (for "available columns: ..." messages).
  std::string columns_list() const;
};

// Parses a whole CSV document whose first record is the header. `source` names it in errors.
// Throws CsvError on malformed quoting, a ragged row, an empty or duplicate header name, or an
// empty document.
CsvTable parse_csv(std::string_view text, const std::string& source);

// Reads and parses a file. Throws CsvError (with the path) if it cannot be read or is malformed.
CsvTable read_csv_file(const std::string& path);

}  // namespace triage
