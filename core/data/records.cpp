// JSON <-> sdk::Record conversions and the CSV dataset reader.
#include "data/records.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <unordered_set>

namespace hitl::data {

using nlohmann::json;

namespace {

const char* json_type_name(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  return v.type_name();
}

// Doubles that hold whole numbers are written as JSON integers, so an id column read from CSV
// ("17") comes back as 17, not 17.0. 2^53 bounds the integers a double represents exactly.
json number_to_json(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9007199254740992.0)
    return json(static_cast<std::int64_t>(d));
  return json(d);
}

// A cell that parses completely as a finite number (no leading/trailing junk, no "nan"/"inf",
// which would otherwise turn words in a text column into numbers).
bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (*first == '+') ++first;  // from_chars refuses a leading '+', spreadsheets write one
  if (first == last) return false;
  if (!(std::isdigit(static_cast<unsigned char>(*first)) || *first == '-' || *first == '.')) return false;
  auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last && std::isfinite(out);
}

sdk::Value cell_value(std::string&& text) {
  if (text.empty() || text == "NA") return std::monostate{};
  double d = 0;
  if (parse_number(text, d)) return d;
  return std::move(text);
}

// Splits RFC 4180 text into records of cells. `line` of each record is where it starts
// (quoted cells may span lines), so errors point at the row a user sees in an editor.
class CsvParser {
 public:
  CsvParser(std::string text, std::string file) : text_(std::move(text)), file_(std::move(file)) {
    if (text_.rfind("\xEF\xBB\xBF", 0) == 0) pos_ = 3;  // UTF-8 byte order mark
  }

  // Reads the next record into `cells`; false at end of input.
  bool next(std::vector<std::string>& cells, std::size_t& start_line) {
    cells.clear();
    // Blank lines between records carry no data (a trailing newline is the usual case).
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
    if (pos_ >= text_.size()) return false;
    start_line = line_;
    std::string cell;
    while (true) {
      cell.clear();
      if (pos_ < text_.size() && text_[pos_] == '"') {
        ++pos_;
        std::size_t quote_line = line_;
        while (true) {
          if (pos_ >= text_.size())
            fail(quote_line, "unterminated quoted cell (a '\"' opened here is never closed)");
          char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') { cell += '"'; ++pos_; continue; }
            break;
          }
          if (c == '\n') ++line_;
          cell += c;
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
          fail(line_, "unexpected character '" + std::string(1, text_[pos_]) +
                          "' after a closing quote (cell " + std::to_string(cells.size() + 1) + ")");
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          if (text_[pos_] == '"')
            fail(line_, "a '\"' inside an unquoted cell (cell " + std::to_string(cells.size() + 1) +
                            "); quote the whole cell and double the inner quotes");
          cell += text_[pos_++];
        }
      }
      cells.push_back(cell);
      if (pos_ >= text_.size()) return true;
      char sep = text_[pos_++];
      if (sep == ',') continue;
      if (sep == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++line_;
      return true;
    }
  }

  [[noreturn]] void fail(std::size_t line, const std::string& reason) const {
    throw DataError(file_ + ":" + std::to_string(line) + ": " + reason);
  }

 private:
  std::string text_;
  std::string file_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

// Labels are strings; a numeric label column (0/1) must give "1", not "1.000000".
std::string label_text(const sdk::Value& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s;
  if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  double d = std::get<double>(v);
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<std::int64_t>(d));
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form
  return std::string(buf, ptr);
}

}  // namespace

std::string number_text(double x) {
  char buf[40];
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9.0e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
  else
    std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

sdk::Record record_from_json(const json& object) {
  if (!object.is_object())
    throw DataError(std::string("expected a JSON object of feature values, got ") + json_type_name(object));
  sdk::Record record;
  record.reserve(object.size());
  for (auto it = object.begin(); it != object.end(); ++it) {
    const json& v = it.value();
    switch (v.type()) {
      case json::value_t::null: record.emplace_back(it.key(), std::monostate{}); break;
      case json::value_t::boolean: record.emplace_back(it.key(), v.get<bool>()); break;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float: record.emplace_back(it.key(), v.get<double>()); break;
      case json::value_t::string: record.emplace_back(it.key(), v.get<std::string>()); break;
      default:
        throw DataError("field \"" + it.key() + "\": expected a number, string, boolean or null, got " +
                        json_type_name(v));
    }
  }
  return record;
}

json record_to_json(const sdk::Record& record) {
  json out = json::object();
  for (const auto& [name, value] : record) {
    std::visit(
        [&, &name = name](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>) out[name] = nullptr;
          else if constexpr (std::is_same_v<T, double>) out[name] = number_to_json(v);
          else out[name] = v;
        },
        value);
  }
  return out;
}

Table read_csv(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(file.string() + ": cannot open for reading");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError(file.string() + ": read error");

  CsvParser parser(std::move(text), file.string());
  Table table;
  std::vector<std::string> cells;
  std::size_t line = 1;
  if (!parser.next(cells, line)) parser.fail(1, "empty file (expected a header row)");
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (cells[i].empty()) parser.fail(line, "header cell " + std::to_string(i + 1) + " is empty");
    if (!seen.insert(cells[i]).second) parser.fail(line, "duplicate column \"" + cells[i] + "\" in the header");
  }
  table.columns = cells;

  while (parser.next(cells, line)) {
    if (cells.size() != table.columns.size())
      parser.fail(line, "expected " + std::to_string(table.columns.size()) + " cells, found " +
                            std::to_string(cells.size()));
    sdk::Record row;
    row.reserve(cells.size());
    for (std::size_t i = 0; i < cells.size(); ++i) row.emplace_back(table.columns[i], cell_value(std::move(cells[i])));
    table.rows.push_back(std::move(row));
  }
  return table;
}

sdk::Dataset to_dataset(const Table& table, const std::string& label_column) {
  std::size_t label_index = table.columns.size();
  for (std::size_t i = 0; i < table.columns.size(); ++i)
    if (table.columns[i] == label_column) label_index = i;
  if (label_index == table.columns.size())
    throw DataError("label column \"" + label_column + "\" is not in the table");

  sdk::Dataset ds;
  ds.rows.reserve(table.rows.size());
  ds.labels.reserve(table.rows.size());
  for (const auto& row : table.rows) {
    // Rows are in column order (read_csv guarantees it), but look the label up by name so a
    // hand-built Table with another order works too.
    const sdk::Value* label = nullptr;
    for (const auto& [name, value] : row)
      if (name == label_column) label = &value;
    if (!label || std::holds_alternative<std::monostate>(*label)) continue;
    sdk::Record features;
    features.reserve(row.size() - 1);
    for (const auto& cell : row)
      if (cell.first != label_column) features.push_back(cell);
    ds.labels.push_back(label_text(*label));
    ds.rows.push_back(std::move(features));
  }
  return ds;
}

}  // namespace hitl::data
