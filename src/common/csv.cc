#include "common/csv.h"

#include <csv.h>  // libcsv

#include <fstream>
#include <memory>
#include <set>
#include <sstream>

namespace triage {
namespace {

// Collects fields and records from libcsv's callbacks. `line` is the physical line being fed,
// so record-level errors can point at it.
struct Collector {
  CsvTable* table = nullptr;
  CsvRow current;
  bool have_header = false;
  std::size_t line = 1;
  std::size_t records = 0;  // completed records including the header
  std::string error;        // first error; parsing stops reporting after it

  std::string where() const {
    return table->source + ":" + std::to_string(line) + " (record " +
           std::to_string(records + 1) + ")";
  }
};

void on_field(void* data, std::size_t len, void* ctx) {
  auto* c = static_cast<Collector*>(ctx);
  if (data == nullptr) {
    c->current.emplace_back(std::nullopt);
  } else {
    c->current.emplace_back(std::string(static_cast<const char*>(data), len));
  }
}

void on_record(int /*terminator*/, void* ctx) {
  auto* c = static_cast<Collector*>(ctx);
  CsvRow row = std::move(c->current);
  c->current.clear();
  if (!c->error.empty()) return;
  if (!c->have_header) {
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (!row[i] || row[i]->empty()) {
        c->error = c->where() + ": header column " + std::to_string(i + 1) + " has no name";
        return;
      }
      if (!seen.insert(*row[i]).second) {
        c->error = c->where() + ": duplicate header column \"" + *row[i] + "\"";
        return;
      }
      c->table->header.push_back(std::move(*row[i]));
    }
    c->have_header = true;
  } else {
    if (row.size() != c->table->header.size()) {
      c->error = c->where() + ": expected " + std::to_string(c->table->header.size()) +
                 " fields (as in the header), found " + std::to_string(row.size());
      return;
    }
    c->table->rows.push_back(std::move(row));
  }
  ++c->records;
}

int never_space(unsigned char) { return 0; }  // keep spaces around unquoted fields

struct ParserDeleter {
  void operator()(csv_parser* p) const {
    csv_free(p);
    delete p;
  }
};

}  // namespace

std::optional<std::size_t> CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return std::nullopt;
}

std::string CsvTable::columns_list() const {
  std::string out;
  for (const auto& h : header) {
    if (!out.empty()) out += ", ";
    out += h;
  }
  return out;
}

CsvTable parse_csv(std::string_view text, const std::string& source) {
  CsvTable table;
  table.source = source;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM

  std::unique_ptr<csv_parser, ParserDeleter> parser(new csv_parser);
  if (csv_init(parser.get(), CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0) {
    delete parser.release();
    throw CsvError(source + ": cannot initialise the CSV parser");
  }
  csv_set_space_func(parser.get(), never_space);

  Collector c;
  c.table = &table;
  // Feed one physical line at a time so that errors can name the line.
  std::size_t pos = 0;
  while (pos < text.size() && c.error.empty()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    std::size_t len = end - pos;
    if (csv_parse(parser.get(), text.data() + pos, len, on_field, on_record, &c) != len) {
      throw CsvError(c.where() + ": malformed CSV: " +
                     csv_strerror(csv_error(parser.get())) +
                     " (a quote inside an unquoted field, or text after a closing quote)");
    }
    pos = end;
    if (nl != std::string_view::npos) ++c.line;
  }
  if (c.error.empty() && csv_fini(parser.get(), on_field, on_record, &c) != 0) {
    throw CsvError(c.where() + ": malformed CSV: a quoted field is not closed before the end "
                               "of the file");
  }
  if (!c.error.empty()) throw CsvError(c.error);
  if (!c.have_header) throw CsvError(source + ": empty CSV file (no header row)");
  return table;
}

CsvTable read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CsvError(path + ": cannot open CSV file");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw CsvError(path + ": error while reading CSV file");
  return parse_csv(buf.str(), path);
}

}  // namespace triage
