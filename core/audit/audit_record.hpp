#pragma once
// One way to build an audit record, and the one name of each actor that is not a person.
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace hitl::audit {

// The service acting on its own: timers (SLA, leases, retention), start-up, model reloads, the
// pipeline's gold tasks, the learning loop.
inline constexpr const char* kSystemActor = "system";
// A policy hook's decision (escalate) that the service carried out.
inline constexpr const char* kPolicyActor = "policy";

enum class Entity { decision, task, model, reviewer, token, service, policy };

inline const char* entity_name(Entity e) {
  switch (e) {
    case Entity::decision: return "decision";
    case Entity::task: return "task";
    case Entity::model: return "model";
    case Entity::reviewer: return "reviewer";
    case Entity::token: return "token";
    case Entity::service: return "service";
    case Entity::policy: return "policy";
  }
  return "unknown";
}

// `domain` is "" for records that belong to no domain (tokens, reviewers, models, the service).
inline sdk::AuditRecord make_record(std::int64_t ts_ms, std::string actor, std::string action, std::string domain,
                                    Entity entity, std::string entity_id, std::string detail_json) {
  sdk::AuditRecord a;
  a.ts_ms = ts_ms;
  a.actor = std::move(actor);
  a.action = std::move(action);
  a.domain = std::move(domain);
  a.entity = entity_name(entity);
  a.entity_id = std::move(entity_id);
  a.detail_json = std::move(detail_json);
  return a;
}

}  // namespace hitl::audit
