#pragma once
// What review.cpp (the life cycle moves) and review_claims.cpp (claims and submits) share: the
// audit record of a task's move, its detail, and the refusals both report. Private to core/review.
#include "audit/audit_record.hpp"
#include "common/service_error.hpp"

#include <hitl/plugin_api.hpp>
#include <nlohmann/json.hpp>

#include <string>

namespace hitl::service::review_detail {
using nlohmann::json;

inline sdk::AuditRecord audit(std::int64_t now, const std::string& actor, const char* action,
                              const std::string& domain, std::int64_t task_id, json detail) {
  return audit::make_record(now, actor, action, domain, audit::Entity::task, std::to_string(task_id), detail.dump());
}

// Every lifecycle move records who moved the task, when, why, and between which states.
inline json move_detail(const std::string& actor, std::int64_t now, const std::string& reason, const std::string& from,
                        const std::string& to, json extra = json::object()) {
  extra["actor"] = actor;
  extra["at_ms"] = now;
  extra["reason"] = reason;
  extra["from"] = from;
  extra["to"] = to;
  return extra;
}

[[noreturn]] inline void storage_failed(const sdk::Status& st) {
  throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
}

[[noreturn]] inline void illegal(const sdk::TaskRecord& t, const std::string& verb) {
  throw ServiceError(409, "illegal_transition",
                     "task " + std::to_string(t.task_id) + " is " + t.status + ": cannot " + verb);
}

}  // namespace hitl::service::review_detail
