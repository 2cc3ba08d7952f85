// The tables a storage plugin keeps whole records in, driver-neutral: each table's columns named
// once, with the record member each holds. storage-sqlite and storage-postgres build their SELECT
// and INSERT lists and read rows from these lists, so a column is added in one place.
#pragma once

#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace hitl::storage_common {

template <class Rec>
struct Column {
  using Member = std::variant<std::string Rec::*, std::int64_t Rec::*, double Rec::*, bool Rec::*>;
  const char* name;
  Member member;
  bool payload = false;  // erasable client data: a list without payload reads it back as ''
};

// Whether column 0 is a key the database assigns on insert (then left out of the INSERT).
enum class RowKey { given, generated };

template <class Rec>
struct TableSpec {
  const char* name;
  RowKey key;
  std::vector<Column<Rec>> columns;

  // The columns an INSERT writes: all but a generated key.
  std::span<const Column<Rec>> inserted() const {
    return std::span<const Column<Rec>>(columns).subspan(key == RowKey::generated ? 1 : 0);
  }
  // "c1, c2, ..." of inserted().
  std::string inserted_list() const {
    std::string cols;
    for (const auto& c : inserted()) cols.append(cols.empty() ? "" : ", ").append(c.name);
    return cols;
  }
  // "SELECT <columns> FROM <name>"; without the payload, payload columns read back as ''.
  std::string select_sql(bool with_payload) const {
    std::string s = "SELECT ";
    for (std::size_t i = 0; i < columns.size(); ++i)
      s.append(i ? ", " : "").append(columns[i].payload && !with_payload ? "''" : columns[i].name);
    return s.append(" FROM ").append(name);
  }
};

const TableSpec<sdk::DecisionRecord>& decisions_table();
const TableSpec<sdk::TaskRecord>& tasks_table();
const TableSpec<sdk::ReviewRecord>& reviews_table();
const TableSpec<sdk::FeedbackRecord>& feedback_table();
const TableSpec<sdk::ReviewerRecord>& reviewers_table();
const TableSpec<sdk::DeliveryRecord>& deliveries_table();
const TableSpec<sdk::AuditRecord>& audit_table();
const TableSpec<sdk::TokenRecord>& tokens_table();

}  // namespace hitl::storage_common
