#include "sql_support.hpp"

#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <limits>

namespace hitl::storage_sqlite {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

sdk::Code code_for(const SQLite::Exception& e) {
  switch (e.getErrorCode() & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return sdk::Code::unavailable;
    case SQLITE_CONSTRAINT: return sdk::Code::conflict;
    default: return sdk::Code::internal;
  }
}

std::int64_t sql_limit(std::size_t limit) {
  return limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
             ? -1  // SQLite: no limit
             : static_cast<std::int64_t>(limit);
}

std::string normalized_status_list(const std::string& from) {
  std::string out;
  out.reserve(from.size());
  for (char c : from)
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
  return out;
}

SQLite::Statement& StatementCache::get(const std::string& text) {
  auto it = by_text_.find(text);
  if (it == by_text_.end()) it = by_text_.emplace(text, std::make_unique<SQLite::Statement>(db_, text)).first;
  return *it->second;
}

void StatementCache::reset_all() noexcept {
  for (auto& [_, s] : by_text_) s->tryReset();
}

Query& Query::order_and_limit(const char* order_by, std::size_t limit) {
  text.append(" ORDER BY ").append(order_by).append(" LIMIT ?");
  binds_.emplace_back(sql_limit(limit));
  return *this;
}

void Query::bind(SQLite::Statement& s) const {
  int i = 1;
  for (const auto& b : binds_) {
    if (const auto* v = std::get_if<std::int64_t>(&b)) s.bind(i++, *v);
    else if (const auto* d = std::get_if<double>(&b)) s.bind(i++, *d);
    else s.bindNoCopy(i++, *std::get<const std::string*>(b));
  }
}

}  // namespace hitl::storage_sqlite
