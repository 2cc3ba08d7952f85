// One table's columns (named once, in storage-common/storage_columns.cpp): the column list of
// its SELECTs and INSERTs, how a row reads back into its record and how a record binds to an
// INSERT all come from the same list, so a column cannot be added to one and forgotten in another.
#pragma once

#include "sql_support.hpp"
#include "storage_columns.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace hitl::storage_sqlite {

using storage_common::Column;
using storage_common::RowKey;  // generated: column 0 is read back with getLastInsertRowid()

template <class Rec>
class Table {
 public:
  explicit Table(const storage_common::TableSpec<Rec>& spec)
      : name_(spec.name), key_(spec.key), columns_(spec.columns), select_(make_select(true)),
        select_no_payload_(make_select(false)) {}

  // "SELECT <columns> FROM <name>", built once (the read path starts every query with it).
  const std::string& select(bool with_payload = true) const { return with_payload ? select_ : select_no_payload_; }

  // "INSERT INTO <name>(<columns>) VALUES(?, ...)": a caller may append an ON CONFLICT clause.
  std::string insert() const {
    std::string cols, marks;
    for (std::size_t i = first_inserted(); i < columns_.size(); ++i) {
      cols.append(cols.empty() ? "" : ", ").append(columns_[i].name);
      marks.append(marks.empty() ? "?" : ",?");
    }
    return std::string("INSERT INTO ") + name_ + "(" + cols + ") VALUES(" + marks + ")";
  }

  // The record of the statement's current row (selected with select()).
  Rec read(const SQLite::Statement& s) const {
    Rec r;
    for (std::size_t i = 0; i < columns_.size(); ++i)
      std::visit([&](auto m) { read_value(s.getColumn(static_cast<int>(i)), r.*m); }, columns_[i].member);
    return r;
  }

  // Binds `r` to the parameters of insert(). Strings are bound without a copy: `r` must
  // outlive the statement's execution.
  void bind(SQLite::Statement& s, const Rec& r) const {
    int param = 1;
    for (std::size_t i = first_inserted(); i < columns_.size(); ++i)
      std::visit([&](auto m) { bind_value(s, param++, r.*m); }, columns_[i].member);
  }

  // Runs the prepared insert() with `r`; returns the rows it changed (0: ignored on conflict).
  int exec_insert(SQLite::Statement& stmt, const Rec& r) const {
    auto& s = fresh(stmt);
    ResetOnExit reset{s};
    bind(s, r);
    return s.exec();
  }

 private:
  std::size_t first_inserted() const { return key_ == RowKey::generated ? 1 : 0; }

  std::string make_select(bool with_payload) const {
    std::string s = "SELECT ";
    for (std::size_t i = 0; i < columns_.size(); ++i)
      s.append(i ? ", " : "").append(columns_[i].payload && !with_payload ? "''" : columns_[i].name);
    return s.append(" FROM ").append(name_);
  }

  static void read_value(const SQLite::Column& c, std::string& v) { v = c.getString(); }
  static void read_value(const SQLite::Column& c, std::int64_t& v) { v = c.getInt64(); }
  static void read_value(const SQLite::Column& c, double& v) { v = c.getDouble(); }
  static void read_value(const SQLite::Column& c, bool& v) { v = c.getInt() != 0; }

  const char* name_;
  RowKey key_;
  std::vector<Column<Rec>> columns_;
  std::string select_, select_no_payload_;
};

}  // namespace hitl::storage_sqlite
