// What every part of storage-sqlite's read and write paths uses: statement hygiene, the error
// mapping, and the filtered query builder.
#pragma once

#include <hitl/plugin_api.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <unordered_map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace hitl::storage_sqlite {

std::int64_t now_ms();

// SQLITE_BUSY / LOCKED are transient (another connection holds the lock past busy_timeout_ms);
// constraint failures mean the batch contradicts what is stored; the rest is a bug or a broken disk.
sdk::Code code_for(const SQLite::Exception& e);

// A failure inside commit() that SQLite itself did not report (a final for an unknown decision).
struct BatchError {
  sdk::Code code;
  std::string message;
};

// Resets a cached statement when the scope ends, also on an exception: a statement left
// mid-step would keep its read snapshot (or an error state) until its next use.
struct ResetOnExit {
  SQLite::Statement& stmt;
  ~ResetOnExit() { stmt.tryReset(); }
};

inline SQLite::Statement& fresh(SQLite::Statement& s) {
  s.tryReset();  // not reset(): it rethrows the error of a previous failed step
  return s;
}

// One parameter, by its C++ type. Strings are bound without a copy: they must outlive the
// statement's execution. (An int argument is ambiguous on purpose: say which type it is.)
inline void bind_value(SQLite::Statement& s, int i, const std::string& v) { s.bindNoCopy(i, v); }
inline void bind_value(SQLite::Statement& s, int i, std::int64_t v) { s.bind(i, v); }
inline void bind_value(SQLite::Statement& s, int i, double v) { s.bind(i, v); }
inline void bind_value(SQLite::Statement& s, int i, bool v) { s.bind(i, v ? 1 : 0); }

// Runs a prepared statement with `args` as its parameters 1..n; returns the rows it changed.
template <class... Args>
int exec_with(SQLite::Statement& stmt, const Args&... args) {
  auto& s = fresh(stmt);
  ResetOnExit reset{s};
  int i = 1;
  (bind_value(s, i++, args), ...);
  return s.exec();
}

// A list's limit as SQLite's LIMIT: -1 (no limit) when it does not fit.
std::int64_t sql_limit(std::size_t limit);

// "pending, assigned" -> "pending,assigned": the SQL matches ',' || status || ',' inside it.
std::string normalized_status_list(const std::string& from);

// Prepared statements by their text, each prepared on first use and kept with the connection.
class StatementCache {
 public:
  explicit StatementCache(SQLite::Database& db) : db_(db) {}
  SQLite::Statement& get(const std::string& text);
  void reset_all() noexcept;

 private:
  SQLite::Database& db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> by_text_;
};

// A filtered query: the WHERE clause holds only the filters that are set, so each variant is a
// plain condition SQLite can serve from an index. Binds in the order the conditions were added;
// the read path caches one prepared statement per distinct text.
struct Query {
  explicit Query(std::string select) : text(std::move(select)) {}

  Query& where(const char* cond, std::int64_t v) { return add(cond, v); }
  Query& where(const char* cond, double v) { return add(cond, v); }
  Query& where(const char* cond, const std::string& v) { return add(cond, &v); }
  Query& where(const char* cond) { return add(cond); }
  // The condition only when the filter is set: a non-zero id or time, a non-empty string.
  Query& where_set(const char* cond, std::int64_t v) { return v ? where(cond, v) : *this; }
  Query& where_set(const char* cond, const std::string& v) { return v.empty() ? *this : where(cond, v); }
  // A filter's [from_ms, to_ms) on created_ms (0 = open).
  Query& created_between(std::int64_t from_ms, std::int64_t to_ms) {
    return where_set("created_ms >= ?", from_ms).where_set("created_ms < ?", to_ms);
  }
  // The query keeps a pointer to a string value: a temporary would dangle.
  Query& where(const char* cond, std::string&& v) = delete;
  Query& where(const char* cond, const char* v) = delete;
  Query& where_set(const char* cond, std::string&& v) = delete;
  Query& where_set(const char* cond, const char* v) = delete;
  // A row-value condition such as "(created_ms, id) > (?, ?)".
  Query& where(const char* cond, std::int64_t a, const std::string& b) { return add(cond, a, &b); }
  // Appends ORDER BY ... LIMIT ? with the list's limit.
  Query& order_and_limit(const char* order_by, std::size_t limit);
  void bind(SQLite::Statement& s) const;

  std::string text;

 private:
  using Bound = std::variant<std::int64_t, double, const std::string*>;
  template <class... V>
  Query& add(const char* cond, V... values) {
    text += text.find(" WHERE ") == std::string::npos ? " WHERE " : " AND ";
    text += cond;
    (binds_.emplace_back(values), ...);
    return *this;
  }
  std::vector<Bound> binds_;
};

}  // namespace hitl::storage_sqlite
