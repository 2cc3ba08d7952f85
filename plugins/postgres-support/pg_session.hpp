// PostgreSQL plumbing shared by storage-postgres and queue-postgres (each compiles it in):
// parameters, error mapping, connections with prepared statements, a pool, a query builder.
#pragma once

#include <hitl/plugin_api.hpp>

#include <pqxx/pqxx>

#include <stdexcept>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hitl::pg {

// Every parameter travels as text; the server converts it to the column's type. Doubles are
// written in their shortest round-trip form, so nothing is lost on the way.
using Params = std::vector<std::string>;
std::string text_of(std::int64_t v);
std::string text_of(double v);
inline std::string text_of(bool v) { return v ? "true" : "false"; }
inline const std::string& text_of(const std::string& v) { return v; }

// Appends `v` as an element of a PostgreSQL array literal ("{...}"): strings double-quoted with
// '"' and '\\' escaped, so any text (commas, braces, spaces, NULL) stays one element.
void append_array_element(std::string& out, const std::string& v);
inline void append_array_element(std::string& out, std::int64_t v) { out += text_of(v); }
inline void append_array_element(std::string& out, double v) { out += text_of(v); }
inline void append_array_element(std::string& out, bool v) { out += text_of(v); }

template <class... Args>
Params params(const Args&... args) {
  return Params{std::string(text_of(args))...};
}

// What a failure means to the host: a broken connection, a timeout, a serialization failure or
// a server shutting down is transient (unavailable); a constraint is a conflict with what is
// stored; bad data (class 22: e.g. a NUL byte or invalid UTF-8 in a string) is the caller's.
sdk::Code code_for(const pqxx::failure& e);

// A parameter PostgreSQL cannot hold as text: a NUL byte (libpq would cut the string there, so
// "a\0b" would be stored as "a", another record's key). Thrown before anything is sent.
struct BadParameter : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
sdk::Code code_for_sqlstate(const std::string& sqlstate);

// One connection with its prepared statements, named by their text's position in a map: each
// text is prepared once per connection, at its first use.
class Session {
 public:
  Session(const std::string& url, int statement_timeout_ms, int connect_timeout_s);
  pqxx::connection& conn() { return conn_; }
  pqxx::result run(pqxx::transaction_base& tx, const std::string& sql, const Params& p = {});
  bool usable() const { return !broken_ && conn_.is_open(); }
  void mark_broken() { broken_ = true; }

 private:
  pqxx::connection conn_;
  std::unordered_map<std::string, std::string> names_;  // statement text -> prepared name
  bool broken_ = false;
};

// Up to `size` sessions handed out one caller at a time; a caller waits for a free one. A
// session that saw its connection break is dropped and replaced on a later acquire.
class Pool {
 public:
  Pool(std::string url, int size, int statement_timeout_ms, int connect_timeout_s);

  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Session> s) : pool_(pool), s_(std::move(s)) {}
    ~Lease() { pool_.give_back(std::move(s_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Session& operator*() { return *s_; }
    Session* operator->() { return s_.get(); }

   private:
    Pool& pool_;
    std::unique_ptr<Session> s_;
  };

  Lease acquire();  // throws pqxx::broken_connection when a new connection cannot be opened

 private:
  void give_back(std::unique_ptr<Session> s) noexcept;

  const std::string url_;
  const int size_, statement_timeout_ms_, connect_timeout_s_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Session>> idle_;
  int open_ = 0;  // sessions in existence (idle or leased)
};

// Runs `body(session)` on a pooled session and maps failures to a Status naming `what`.
template <class Body>
sdk::Status with_session(Pool& pool, const char* plugin, const char* what, Body&& body) noexcept {
  try {
    auto s = pool.acquire();
    try {
      body(*s);
    } catch (const pqxx::broken_connection&) {
      s->mark_broken();
      throw;
    }
    return sdk::Status::Ok();
  } catch (const pqxx::failure& e) {
    return sdk::Status::Error(code_for(e), std::string(plugin) + ": " + what + " failed: " + e.what());
  } catch (const BadParameter& e) {
    return sdk::Status::Error(sdk::Code::invalid_argument, std::string(plugin) + ": " + what + " failed: " + e.what());
  } catch (const std::exception& e) {
    return sdk::Status::Error(sdk::Code::internal, std::string(plugin) + ": " + what + " failed: " + e.what());
  }
}

// A filtered query: the WHERE clause holds only the filters that are set. '?' in a condition
// becomes the next $n; values are kept as text.
struct Query {
  explicit Query(std::string select) : text(std::move(select)) {}
  template <class... V>
  Query& where(const char* cond, const V&... values) {
    text += text.find(" WHERE ") == std::string::npos ? " WHERE " : " AND ";
    for (const char* c = cond; *c; ++c) {
      if (*c == '?') text += "$" + std::to_string(++n_);
      else text += *c;
    }
    (args.push_back(std::string(text_of(values))), ...);
    return *this;
  }
  // The condition only when the filter is set: a non-zero number, a non-empty string.
  Query& where_set(const char* cond, std::int64_t v) { return v ? where(cond, v) : *this; }
  Query& where_set(const char* cond, const std::string& v) { return v.empty() ? *this : where(cond, v); }
  Query& created_between(std::int64_t from_ms, std::int64_t to_ms) {
    return where_set("created_ms >= ?", from_ms).where_set("created_ms < ?", to_ms);
  }
  // ORDER BY ... LIMIT with the list's limit (none when it does not fit a bigint).
  Query& order_and_limit(const char* order_by, std::size_t limit);

  std::string text;
  Params args;

 private:
  int n_ = 0;
};

}  // namespace hitl::pg
