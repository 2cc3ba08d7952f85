// One table's columns (named once, in storage-common/storage_columns.cpp): the column list of
// its SELECTs and INSERTs, how a row reads back into its record and how a record becomes INSERT
// parameters all come from the same list.
#pragma once

#include "pg_session.hpp"
#include "storage_columns.hpp"

#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace hitl::storage_postgres {

using storage_common::Column;
using storage_common::RowKey;  // generated: column 0 is an identity, read back with RETURNING

// Rows per multi-row INSERT: a batch of any size takes ceil(n / kRowsPerInsert) statements, and
// the statements prepared per table stay few (one per distinct row count up to this).
inline constexpr std::size_t kRowsPerInsert = 64;

template <class Rec>
class Table {
 public:
  explicit Table(const storage_common::TableSpec<Rec>& spec)
      : name_(spec.name), key_(spec.key), columns_(spec.columns), select_(make_select(true)),
        select_no_payload_(make_select(false)) {}

  const char* name() const { return name_; }
  const std::string& select(bool with_payload = true) const { return with_payload ? select_ : select_no_payload_; }

  // "INSERT INTO <name>(<columns>) VALUES($1, ...), (...)" for `rows` rows; a caller may append
  // ON CONFLICT / RETURNING.
  std::string insert(std::size_t rows = 1) const {
    std::string cols, values;
    const std::size_t first = key_ == RowKey::generated ? 1 : 0, width = columns_.size() - first;
    for (std::size_t i = first; i < columns_.size(); ++i) cols.append(cols.empty() ? "" : ", ").append(columns_[i].name);
    for (std::size_t r = 0; r < rows; ++r) {
      values.append(r ? ", (" : "(");
      for (std::size_t c = 0; c < width; ++c) values.append(c ? ", $" : "$").append(std::to_string(r * width + c + 1));
      values.append(")");
    }
    return std::string("INSERT INTO ") + name_ + "(" + cols + ") VALUES " + values;
  }

  // Appends the parameters of `r` for insert().
  void append(pg::Params& p, const Rec& r) const {
    for (std::size_t i = key_ == RowKey::generated ? 1 : 0; i < columns_.size(); ++i)
      std::visit([&](auto m) { p.push_back(std::string(pg::text_of(r.*m))); }, columns_[i].member);
  }

  Rec read(const pqxx::row& row) const {
    Rec r;
    for (std::size_t i = 0; i < columns_.size(); ++i)
      std::visit([&](auto m) { read_value(row[static_cast<pqxx::row::size_type>(i)], r.*m); }, columns_[i].member);
    return r;
  }

 private:
  std::string make_select(bool with_payload) const {
    std::string s = "SELECT ";
    for (std::size_t i = 0; i < columns_.size(); ++i)
      s.append(i ? ", " : "").append(columns_[i].payload && !with_payload ? "''" : columns_[i].name);
    return s.append(" FROM ").append(name_);
  }

  static void read_value(const pqxx::field& f, std::string& v) { v.assign(f.c_str(), f.size()); }
  static void read_value(const pqxx::field& f, std::int64_t& v) { v = f.as<std::int64_t>(); }
  static void read_value(const pqxx::field& f, double& v) { v = f.as<double>(); }
  static void read_value(const pqxx::field& f, bool& v) { v = f.as<bool>(); }

  const char* name_;
  RowKey key_;
  std::vector<Column<Rec>> columns_;
  std::string select_, select_no_payload_;
};

extern const Table<sdk::DecisionRecord> kDecisions;
extern const Table<sdk::TaskRecord> kTasks;
extern const Table<sdk::ReviewRecord> kReviews;
extern const Table<sdk::FeedbackRecord> kFeedback;
extern const Table<sdk::ReviewerRecord> kReviewers;
extern const Table<sdk::DeliveryRecord> kDeliveries;
extern const Table<sdk::AuditRecord> kAudit;
extern const Table<sdk::TokenRecord> kTokens;

}  // namespace hitl::storage_postgres
