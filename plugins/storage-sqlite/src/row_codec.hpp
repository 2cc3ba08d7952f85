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
      : spec_(spec), select_(spec.select_sql(true)), select_no_payload_(spec.select_sql(false)) {}

  // "SELECT <columns> FROM <name>", built once (the read path starts every query with it).
  const std::string& select(bool with_payload = true) const { return with_payload ? select_ : select_no_payload_; }

  // "INSERT INTO <name>(<columns>) VALUES(?, ...)": a caller may append an ON CONFLICT clause.
  std::string insert() const {
    std::string marks;
    for (std::size_t n = 0; n < spec_.inserted().size(); ++n) marks.append(n ? ",?" : "?");
    return std::string("INSERT INTO ") + spec_.name + "(" + spec_.inserted_list() + ") VALUES(" + marks + ")";
  }

  // The record of the statement's current row (selected with select()).
  Rec read(const SQLite::Statement& s) const {
    Rec r;
    for (std::size_t i = 0; i < spec_.columns.size(); ++i)
      std::visit([&](auto m) { read_value(s.getColumn(static_cast<int>(i)), r.*m); }, spec_.columns[i].member);
    return r;
  }

  // Binds `r` to the parameters of insert(). Strings are bound without a copy: `r` must
  // outlive the statement's execution.
  void bind(SQLite::Statement& s, const Rec& r) const {
    int param = 1;
    for (const auto& c : spec_.inserted()) std::visit([&](auto m) { bind_value(s, param++, r.*m); }, c.member);
  }

  // Runs the prepared insert() with `r`; returns the rows it changed (0: ignored on conflict).
  int exec_insert(SQLite::Statement& stmt, const Rec& r) const {
    auto& s = fresh(stmt);
    ResetOnExit reset{s};
    bind(s, r);
    return s.exec();
  }

 private:
  static void read_value(const SQLite::Column& c, std::string& v) { v = c.getString(); }
  static void read_value(const SQLite::Column& c, std::int64_t& v) { v = c.getInt64(); }
  static void read_value(const SQLite::Column& c, double& v) { v = c.getDouble(); }
  static void read_value(const SQLite::Column& c, bool& v) { v = c.getInt() != 0; }

  const storage_common::TableSpec<Rec>& spec_;  // storage-common's, alive for the process
  std::string select_, select_no_payload_;
};

}  // namespace hitl::storage_sqlite
