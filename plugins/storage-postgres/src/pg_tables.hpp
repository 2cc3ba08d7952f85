// One table's columns (named once, in storage-common/storage_columns.cpp): the column list of
// its SELECTs and INSERTs, how a row reads back into its record and how a record becomes INSERT
// parameters all come from the same list.
#pragma once

#include "pg_session.hpp"
#include "storage_columns.hpp"

#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace hitl::storage_postgres {

using storage_common::Column;
using storage_common::RowKey;  // generated: column 0 is an identity, read back with RETURNING

// Rows per bulk INSERT: a batch of any size takes ceil(n / kRowsPerInsert) statements (the
// statement text is the same for any n, so one is prepared per table).
inline constexpr std::size_t kRowsPerInsert = 1000;

template <class Rec>
class Table {
 public:
  explicit Table(const storage_common::TableSpec<Rec>& spec)
      : spec_(spec), select_(spec.select_sql(true)), select_no_payload_(spec.select_sql(false)) {}

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
    static constexpr const char* kArrayType[] = {"text[]", "bigint[]", "float8[]", "boolean[]"};
    std::string arrays;
    std::size_t n = 0;
    for (const auto& c : inserted())
      arrays.append(n ? ", $" : "$").append(std::to_string(++n)).append("::").append(kArrayType[c.member.index()]);
    return "INSERT INTO " + std::string(spec_.name) + "(" + spec_.inserted_list() + ") SELECT * FROM unnest(" + arrays + ")";
  }

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
      out.push_back(a += '}');
    }
    return out;
  }

  Rec read(const pqxx::row& row) const {
    Rec r;
    for (std::size_t i = 0; i < spec_.columns.size(); ++i)
      std::visit([&](auto m) { read_value(row[static_cast<pqxx::row::size_type>(i)], r.*m); }, spec_.columns[i].member);
    return r;
  }

 private:
  std::span<const Column<Rec>> inserted() const { return spec_.inserted(); }

  static void read_value(const pqxx::field& f, std::string& v) { v.assign(f.c_str(), f.size()); }
  static void read_value(const pqxx::field& f, std::int64_t& v) { v = f.as<std::int64_t>(); }
  static void read_value(const pqxx::field& f, double& v) { v = f.as<double>(); }
  static void read_value(const pqxx::field& f, bool& v) { v = f.as<bool>(); }

  const storage_common::TableSpec<Rec>& spec_;  // storage-common's, alive for the process
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
