// Helpers of storage-postgres's own tests (test_storage_postgres.cpp, test_review_path.cpp):
// the plugin loaded through Boost.DLL, opened on a database of the throw-away test server.
#pragma once

#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/plugin_testing.hpp"
#include "support/postgres.hpp"

#include <memory>
#include <string>

namespace hitl::test::pg_storage {

namespace sdk = hitl::sdk;

inline const sdk::PluginDescriptor& plugin() { return hitl::test::plugin_descriptor("storage-postgres.so"); }

inline sdk::Status try_open(const nlohmann::json& config, std::unique_ptr<sdk::Storage>& out) {
  return plugin().create_storage(config.dump().c_str(), out);
}

inline std::unique_ptr<sdk::Storage> open(const std::string& url) {
  std::unique_ptr<sdk::Storage> s;
  const auto st = try_open({{"url", url}}, s);
  INFO(st.message);
  REQUIRE(st.ok());
  return s;
}

inline void commit_ok(sdk::Storage& s, sdk::WriteBatch& b) {
  const auto st = s.commit(b);
  INFO(st.message);
  REQUIRE(st.ok());
}

inline sdk::NewDecision decision(const std::string& id, bool with_task) {
  sdk::NewDecision nd;
  nd.decision.domain = "credit";
  nd.decision.id = id;
  nd.decision.status = with_task ? "pending_review" : "auto_approved";
  nd.decision.created_ms = 1000;
  nd.decision.confidence = 0.1 + 0.2;  // not exactly representable: must come back bit for bit
  if (with_task) nd.task = sdk::TaskRecord{};
  nd.audit.push_back({0, 1000, "client", "decision.created", "credit", "decision", id, "{}"});
  return nd;
}

// Commits one decision `id` that opens a review task; returns the task's id.
inline std::int64_t commit_with_task(sdk::Storage& s, const std::string& id) {
  sdk::WriteBatch b;
  b.decisions.push_back(decision(id, true));
  commit_ok(s, b);
  return b.decisions[0].task->task_id;
}

// The integer a query answers (a count, a seq), read outside the plugin on a connection of its own.
inline int read_int(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<int>();
}

}  // namespace hitl::test::pg_storage
