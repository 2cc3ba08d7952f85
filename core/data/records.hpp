#pragma once
// Conversions between JSON / CSV and the SDK's flat sdk::Record, and dataset readers.
#include <hitl/plugin_api.hpp>

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace hitl::data {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A JSON object -> Record: numbers -> double, strings -> string, booleans -> bool,
// null -> missing. Nested objects/arrays are refused with DataError naming the field.
sdk::Record record_from_json(const nlohmann::json& object);
nlohmann::json record_to_json(const sdk::Record& record);

// A number as text the way a value is compared by name (segments, categories): whole numbers
// without a fraction ("3", not "3.0"), others with 17 significant digits.
std::string number_text(double x);

// A CSV file with a header row (RFC 4180 quoting). Each cell: empty or "NA" -> missing,
// parses fully as a number -> double, otherwise string.
struct Table {
  std::vector<std::string> columns;
  std::vector<sdk::Record> rows;  // each row has every column, in column order
};
Table read_csv(const std::filesystem::path& file);  // throws DataError "file:line: reason"

// Splits off `label_column` into a training Dataset (rows with a missing label are skipped).
sdk::Dataset to_dataset(const Table& table, const std::string& label_column);

}  // namespace hitl::data
