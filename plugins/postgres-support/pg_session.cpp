#include "pg_session.hpp"

#include <charconv>
#include <limits>

namespace hitl::pg {

std::string text_of(std::int64_t v) { return std::to_string(v); }

std::string text_of(double v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

void append_array_element(std::string& out, const std::string& v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

sdk::Code code_for_sqlstate(const std::string& s) {
  const std::string cls = s.substr(0, 2);
  if (cls == "23") return sdk::Code::conflict;          // integrity constraint, the task trigger
  if (cls == "22") return sdk::Code::invalid_argument;  // data exception
  // 40: serialization / deadlock; 53: insufficient resources; 57: cancel (statement timeout),
  // admin shutdown; 08: connection; 55P03: lock not available.
  if (cls == "40" || cls == "53" || cls == "57" || cls == "08" || s == "55P03") return sdk::Code::unavailable;
  return sdk::Code::internal;
}

sdk::Code code_for(const pqxx::failure& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return sdk::Code::unavailable;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) return sdk::Code::unavailable;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) return code_for_sqlstate(sql->sqlstate());
  return sdk::Code::internal;
}

namespace {

std::string with_connect_timeout(const std::string& url, int seconds) {
  // libpq takes the timeout from the connection string; a URL gets it as a query parameter.
  const bool is_url = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  if (!is_url) return url + " connect_timeout=" + std::to_string(seconds);
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + std::to_string(seconds);
}

}  // namespace

Session::Session(const std::string& url, int statement_timeout_ms, int connect_timeout_s)
    : conn_(with_connect_timeout(url, connect_timeout_s)) {
  pqxx::nontransaction tx(conn_);
  tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_ms));
}

pqxx::result Session::run(pqxx::transaction_base& tx, const std::string& sql, const Params& p) {
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i].find('\0') != std::string::npos)
      throw BadParameter("parameter $" + std::to_string(i + 1) + " holds a NUL byte, which PostgreSQL text cannot store");
  auto it = names_.find(sql);
  if (it == names_.end()) {
    const std::string name = "s" + std::to_string(names_.size() + 1);
    conn_.prepare(name, sql);
    it = names_.emplace(sql, name).first;
  }
  return tx.exec_prepared(it->second, pqxx::prepare::make_dynamic_params(p));
}

Pool::Pool(std::string url, int size, int statement_timeout_ms, int connect_timeout_s)
    : url_(std::move(url)), size_(size), statement_timeout_ms_(statement_timeout_ms), connect_timeout_s_(connect_timeout_s) {}

Pool::Lease Pool::acquire() {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(s));
  }
  ++open_;  // reserved before connecting (outside the lock), released if connecting fails
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<Session>(url_, statement_timeout_ms_, connect_timeout_s_));
  } catch (...) {
    give_back(nullptr);
    throw;
  }
}

void Pool::give_back(std::unique_ptr<Session> s) noexcept {
  {
    std::lock_guard lock(mu_);
    if (s && s->usable()) idle_.push_back(std::move(s));
    else --open_;
  }
  freed_.notify_one();
}

Query& Query::order_and_limit(const char* order_by, std::size_t limit) {
  text.append(" ORDER BY ").append(order_by);
  if (limit <= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()))
    text += " LIMIT $" + std::to_string(++n_), args.push_back(std::to_string(limit));
  return *this;
}

}  // namespace hitl::pg
