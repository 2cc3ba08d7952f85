#pragma once
// Shared checks of the adversarial suite: a hostile request gets a clear JSON error, the service
// keeps answering /healthz, and the database holds exactly what was acknowledged.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <string>

namespace hitl::test {

inline void check_error(const HttpResponse& r, int status, const std::string& code) {
  INFO(r.body.substr(0, 400));
  CHECK(r.status == status);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"] == code);
}

// On the service's backend, SQLite or PostgreSQL (Service::sql_rows).
inline long long count_rows(const Service& s, const std::string& sql) {
  const auto rows = s.sql_rows(sql);
  REQUIRE(rows.size() == 1);
  return std::stoll(rows[0][0]);
}

inline void check_healthy(const Service& s) {
  REQUIRE(s.running());
  HttpClient fresh(s.port());
  CHECK(fresh.request("GET", "/healthz", "").status == 200);
}

// Every stored decision has exactly one decision.created record, and no record names a
// decision that is not stored.
inline void check_audit_matches_decisions(const Service& s) {
  CHECK(count_rows(s, "SELECT count(*) FROM (SELECT domain, entity_id FROM audit WHERE action = 'decision.created' "
                      "GROUP BY domain, entity_id HAVING count(*) > 1) AS twice") == 0);
  CHECK(count_rows(s, "SELECT count(*) FROM audit a WHERE a.action = 'decision.created' AND NOT EXISTS "
                      "(SELECT 1 FROM decisions d WHERE d.domain = a.domain AND d.id = a.entity_id)") == 0);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions d WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE "
                      "a.action IN ('decision.created', 'gold.created') AND a.domain = d.domain AND a.entity_id = d.id)") == 0);
}

}  // namespace hitl::test
