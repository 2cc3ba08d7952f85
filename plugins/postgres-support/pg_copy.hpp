// COPY ... FROM STDIN in text format: rows given as raw text fields, escaped here and sent in
// blocks. The cheapest way for many rows into a table (storage-postgres: Table::copy_in;
// queue-postgres: push).
#pragma once

#include <pqxx/pqxx>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace hitl::pg {

// A write of fewer rows than this goes in by one multi-row INSERT (an array parameter per
// column): one round trip. COPY costs two (start, data and end) plus, where a conflict must be
// survivable, a savepoint and its release; it wins only on the server's parse time, which a
// small batch does not have (docs/performance.md, "Small write batches on PostgreSQL").
// storage-postgres (decisions, tasks, audit records) and queue-postgres (push) both use it.
inline constexpr std::size_t kCopyFromRows = 100;

class CopyIn {
 public:
  // Starts COPY <table>(<columns>) FROM STDIN inside `tx`; nothing else may run on `tx` until
  // complete().
  CopyIn(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns);
  ~CopyIn();
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;

  // One row: a field per column, raw text (no NUL: the caller refuses it).
  void add_row(const std::vector<std::string>& fields);
  // Ends the COPY; throws what the server refused it for (a conflict, bad UTF-8, ...).
  void complete();

 private:
  struct Stream;
  void flush();
  std::unique_ptr<Stream> stream_;
  std::string block_;  // escaped rows not sent yet, '\n' between them
};

}  // namespace hitl::pg
