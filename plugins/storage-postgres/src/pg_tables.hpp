// One table's columns (named once, in storage-common/storage_columns.cpp): the column list of
// its SELECTs and INSERTs, how a row reads back into its record and how a record becomes INSERT
// parameters all come from the same list.
#pragma once

#include "pg_copy.hpp"
#include "pg_session.hpp"
#include "storage_columns.hpp"

#include <hitl/plugin_api.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace hitl::storage_postgres {

using storage_common::Column;
using storage_common::RowKey;  // generated: column 0 is an identity, read back with RETURNING

// Rows per bulk INSERT: a batch of any size takes ceil(n / kRowsPerInsert) statements (the
// statement text is the same for any n, so one is prepared per table).
inline constexpr std::size_t kRowsPerInsert = 1000;

// Calls f(first, count) for consecutive chunks of at most kRowsPerInsert of n items.
template <class F>
void in_chunks(std::size_t n, F f) {
  for (std::size_t first = 0; first < n; first += kRowsPerInsert) f(first, std::min(kRowsPerInsert, n - first));
}

// The array type an unnest() parameter of T values is cast to.
template <class T>
constexpr const char* array_type() {
  if constexpr (std::is_same_v<T, std::string>) return "text[]";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "bigint[]";
  else if constexpr (std::is_same_v<T, double>) return "float8[]";
  else {
    static_assert(std::is_same_v<T, bool>);
    return "boolean[]";
  }
}

// "{a,b,...}": one array parameter holding field(row) (a function or a member) of each row of
// `rows`, in order.
template <class Rows, class Field>
std::string array_of(const Rows& rows, Field field) {
  std::string a = "{";
  for (const auto& row : rows) pg::append_array_element(a += a.size() > 1 ? "," : "", std::invoke(field, row));
  return a += '}';
}

template <class Rec>
class Table {
 public:
  explicit Table(const storage_common::TableSpec<Rec>& spec)
      : spec_(spec), select_(spec.select_sql(true)), select_no_payload_(spec.select_sql(false)) {
    for (const auto& c : spec.columns) column_names_.emplace_back(c.name);
    if (spec.key == RowKey::generated) insert_with_ids_ = insert_with_ids_sql();
  }

  const char* name() const { return spec_.name; }
  const std::string& select(bool with_payload = true) const { return with_payload ? select_ : select_no_payload_; }

  // "INSERT INTO <name>(<columns>) VALUES($1, ...)"; a caller may append ON CONFLICT / RETURNING.
  std::string insert() const {
    std::string values;
    for (std::size_t n = 1; n <= inserted().size(); ++n) values.append(n > 1 ? ", $" : "$").append(std::to_string(n));
    return "INSERT INTO " + std::string(spec_.name) + "(" + spec_.inserted_list() + ") VALUES(" + values + ")";
  }

  // Appends the parameters of `r` for insert().
  void append(pg::Params& p, const Rec& r) const {
    for (const auto& c : inserted()) std::visit([&](auto m) { p.push_back(std::string(pg::text_of(r.*m))); }, c.member);
  }

  // Many rows in one statement: "INSERT INTO <name>(<columns>) SELECT * FROM unnest($1::text[],
  // $2::bigint[], ...)", one array parameter per column (bulk_params). The text is the same for
  // any number of rows, and the server parses one array per column instead of one parameter per
  // value: several times the throughput of multi-row VALUES lists.
  std::string bulk_insert() const {
    return "INSERT INTO " + std::string(spec_.name) + "(" + spec_.inserted_list() + ") SELECT * FROM " + unnest();
  }

  // "unnest($1::text[], $2::bigint[], ...)": the rows of bulk_params(), one array per inserted column.
  std::string unnest() const {
    std::string arrays;
    std::size_t n = 0;
    for (const auto& c : inserted()) {
      const char* type = std::visit([](auto m) { return array_type<std::remove_cvref_t<decltype(std::declval<const Rec&>().*m)>>(); }, c.member);
      arrays.append(n ? ", $" : "$").append(std::to_string(++n)).append("::").append(type);
    }
    return "unnest(" + arrays + ")";
  }

  // Rows of bulk_params() inserted with keys drawn from the table's identity sequence in row
  // order, in one statement, answering the keys by row number (insert_with_ids_sql). The last
  // parameter is the row count. For a table whose key is generated.
  const std::string& insert_with_ids() const { return insert_with_ids_; }
  std::string inserted_list() const { return spec_.inserted_list(); }
  std::size_t inserted_count() const { return inserted().size(); }

  // The array literals of bulk_insert() for the records rec(first) .. rec(last - 1).
  template <class It, class Proj>
  pg::Params bulk_params(It first, It last, Proj rec) const {
    pg::Params out;
    for (const auto& c : inserted()) {
      std::string a = "{";
      for (It it = first; it != last; ++it) {
        if (it != first) a += ',';
        std::visit([&](auto m) { pg::append_array_element(a, rec(*it).*m); }, c.member);
      }
      // Refused naming the column, as copy_in does (Session::run would name only "$n").
      if (a.find('\0') != std::string::npos) throw pg::BadParameter(holds_nul(c.name, "a row"));
      out.push_back(a += '}');
    }
    return out;
  }

  // COPY <name>(<every column>) FROM STDIN of the records rec(first) .. rec(last - 1), key
  // included (for a generated key, the caller has drawn it from the table's sequence). COPY is
  // the server's cheapest way in: no array parameter to parse, no unnest, no ON CONFLICT check --
  // 0.9-1.2 s for 207k decision rows where the INSERT ... unnest of the same rows took 2.5-2.8 s
  // (docs/performance.md). A conflict fails the whole COPY: the caller decides what then.
  template <class It, class Proj>
  void copy_in(pqxx::transaction_base& tx, It first, It last, Proj rec) const {
    pg::CopyIn out(tx, spec_.name, column_names_);
    std::vector<std::string> fields(spec_.columns.size());
    std::size_t row = 0;
    for (It it = first; it != last; ++it, ++row) {
      for (std::size_t i = 0; i < fields.size(); ++i)
        std::visit([&](auto m) { fields[i] = pg::text_of(rec(*it).*m); }, spec_.columns[i].member);
      refuse_nul(fields, row);
      out.add_row(fields);
    }
    out.complete();
  }

  Rec read(const pqxx::row& row) const {
    Rec r;
    for (std::size_t i = 0; i < spec_.columns.size(); ++i)
      std::visit([&](auto m) { read_value(row[static_cast<pqxx::row::size_type>(i)], r.*m); }, spec_.columns[i].member);
    return r;
  }

 private:
  std::span<const Column<Rec>> inserted() const { return spec_.inserted(); }

  // A NUL byte cannot be stored in PostgreSQL text and would cut the COPY line short: refused
  // before it is sent, as Session::run refuses it in a parameter.
  void refuse_nul(const std::vector<std::string>& fields, std::size_t row) const {
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (fields[i].find('\0') != std::string::npos)
        throw pg::BadParameter(holds_nul(spec_.columns[i].name, "row " + std::to_string(row)));
  }
  std::string holds_nul(const char* column, const std::string& row) const {
    return std::string(spec_.name) + "." + column + " of " + row + " holds a NUL byte, which PostgreSQL text cannot store";
  }

  static void read_value(const pqxx::field& f, std::string& v) { v.assign(f.c_str(), f.size()); }
  static void read_value(const pqxx::field& f, std::int64_t& v) { v = f.as<std::int64_t>(); }
  static void read_value(const pqxx::field& f, double& v) { v = f.as<double>(); }
  static void read_value(const pqxx::field& f, bool& v) { v = f.as<bool>(); }

  // The CTE `ids` (materialized: evaluated once, as it is referenced
  // twice) draws them, the rows go in with them, and the keys are answered ordered by row number
  // -- so each record learns its own key without a RETURNING whose order is unspecified.
  std::string insert_with_ids_sql() const {
    const std::string key = spec_.columns[0].name, columns = inserted_list();
    const std::string count = "$" + std::to_string(inserted_count() + 1);
    return "WITH ids AS MATERIALIZED (SELECT n, nextval((SELECT pg_get_serial_sequence('" + std::string(spec_.name) +
           "', '" + key + "'))::regclass) AS " + key + " FROM generate_series(1, " + count + "::bigint) AS n), " +
           "inserted AS (INSERT INTO " + spec_.name + "(" + key + ", " + columns + ") SELECT " + key + ", " + columns +
           " FROM " + unnest() + " WITH ORDINALITY AS u(" + columns + ", n) JOIN ids USING (n)) " +
           "SELECT " + key + " FROM ids ORDER BY n";
  }

  const storage_common::TableSpec<Rec>& spec_;  // storage-common's, alive for the process
  std::string select_, select_no_payload_, insert_with_ids_;
  std::vector<std::string> column_names_;  // every column, in order: copy_in's
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
