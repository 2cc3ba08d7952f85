// The review workflow's routes (docs/http-api.md, "Review workflow"): the reviewer registry, the
// task list, assign and reassign. The router (api.cpp) checked method and role.
#include "api/handlers.hpp"

#include "app/app.hpp"
#include "review/assignment.hpp"
#include "api/api_body.hpp"
#include "governance/auth.hpp"
#include "domain/domains.hpp"
#include "review/review.hpp"
#include "review/reviewers.hpp"
#include "common/service_error.hpp"
#include "common/task_state.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace hitl::service {
using nlohmann::json;

namespace {


// A list field as the registry stores it: ["a","b"] (or "a,b") -> "a,b".
std::string list_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw ServiceError(422, "invalid_field", std::string(key) + ": expected a list of strings", key);
  std::string out;
  for (auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().find(',') != std::string::npos)
      throw ServiceError(422, "invalid_field", std::string(key) + ": expected a list of strings without commas", key);
    out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

// A domain-scoped admin manages only reviewers wholly inside its scope: a reviewer without
// `domains` works every domain, so only an unscoped admin may touch them.
bool may_manage(const Principal& who, const std::string& reviewer_domains) {
  if (who.domains.empty()) return true;
  const auto domains = split_list(reviewer_domains);
  if (domains.empty()) return false;
  for (auto& d : domains)
    if (!who.may_access(d)) return false;
  return true;
}

void require_manage(const Principal& who, const sdk::ReviewerRecord& r) {
  if (!may_manage(who, r.domains))
    throw ServiceError(403, "forbidden", "token \"" + who.name + "\" may not manage reviewer \"" + r.id +
                                             "\": its domains are outside the token's scope", "domains");
}

json list_json(const std::string& csv) {
  json a = json::array();
  for (auto& x : split_list(csv)) a.push_back(x);
  return a;
}

json reviewer_json(const sdk::ReviewerRecord& r) {
  return {{"id", r.id},          {"name", r.name},       {"roles", list_json(r.roles)},
          {"domains", list_json(r.domains)}, {"skills", list_json(r.skills)}, {"capacity", r.capacity},
          {"cost_per_hour", r.cost_per_hour}, {"disabled", r.disabled}, {"created_ms", r.created_ms},
          {"updated_ms", r.updated_ms}};
}

json task_json(const sdk::TaskRecord& t) {
  json j = {{"task_id", t.task_id},   {"domain", t.domain},         {"decision_id", t.decision_id},
            {"status", t.status},     {"priority", t.priority},     {"reason", t.reason},
            {"assignee", t.assignee}, {"lease_expires_ms", t.lease_expires_ms},
            {"skills", list_json(t.skills)}, {"pool", t.pool},      {"reviews_required", t.reviews_required},
            {"reviews_done", t.reviews_done}, {"sla_state", t.sla_state}, {"escalations", t.escalations},
            {"preassigned", t.preassigned}, {"created_ms", t.created_ms}, {"updated_ms", t.updated_ms}};
  j["deadline_ms"] = t.deadline_ms ? json(t.deadline_ms) : json(nullptr);
  return j;
}

std::int64_t int_param(const http::Request& req, const char* name, std::int64_t def, std::int64_t lo, std::int64_t hi) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return def;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size() || v < lo || v > hi)
    throw ServiceError(422, "invalid_field", std::string(name) + ": expected an integer " + std::to_string(lo) + ".." +
                       std::to_string(hi), name);
  return v;
}

void list_tasks(App& app, const http::Request& req, const Principal& who, http::Respond& respond) {
  sdk::TaskFilter f;
  auto q = [&](const char* k) {
    auto it = req.query.find(k);
    return it == req.query.end() ? std::string() : it->second;
  };
  f.domain = q("domain");
  if (who.role == Role::reviewer) {
    // Reviewers list within their domains only, one domain at a time.
    if (f.domain.empty()) throw ServiceError(422, "invalid_field", "domain: required for a reviewer token", "domain");
    if (!who.may_access(f.domain)) throw ServiceError(403, "forbidden", "token \"" + who.name + "\" is not allowed domain \"" + f.domain + "\"", "domain");
  }
  if (!f.domain.empty() && !app.domains().find(f.domain))
    throw ServiceError(404, "unknown_domain", "no domain named \"" + f.domain + "\"", "domain");
  if (!f.domain.empty() && !who.may_access(f.domain))
    throw ServiceError(403, "forbidden", "token \"" + who.name + "\" is not allowed domain \"" + f.domain + "\"", "domain");
  f.status = q("status");
  if (!f.status.empty() && !task_state(f.status))
    throw ServiceError(422, "invalid_field", "status: expected pending, assigned, completed, escalated or cancelled", "status");
  f.assignee = q("assignee");
  f.sla_state = q("sla_state");
  if (!f.sla_state.empty() && f.sla_state != "at_risk" && f.sla_state != "breached")
    throw ServiceError(422, "invalid_field", "sla_state: expected at_risk or breached", "sla_state");
  if (auto mp = q("min_priority"); !mp.empty()) {
    char* end = nullptr;
    f.min_priority = std::strtod(mp.c_str(), &end);
    if (end != mp.c_str() + mp.size() || !std::isfinite(f.min_priority))
      throw ServiceError(422, "invalid_field", "min_priority: expected a finite number", "min_priority");
  }
  f.after_task_id = int_param(req, "cursor", 0, 0, std::int64_t{1} << 62);
  f.limit = static_cast<std::size_t>(int_param(req, "limit", 100, 1, 1000));
  // A domain-scoped token listing every domain: read on past the tasks of other domains until
  // the page is full (at most kMaxPages storage pages per request; the cursor then continues).
  constexpr int kMaxPages = 20;
  const std::size_t want = f.limit;
  json tasks = json::array();
  bool more = false;
  std::int64_t cursor = 0;
  for (int page = 0; page < kMaxPages; ++page) {
    std::vector<sdk::TaskRecord> rows;
    auto st = app.storage().list_tasks(f, rows);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
    more = false;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      cursor = rows[i].task_id;
      if (who.may_access(rows[i].domain)) tasks.push_back(task_json(rows[i]));
      if (tasks.size() == want) {
        more = i + 1 < rows.size() || rows.size() == f.limit;
        break;
      }
    }
    if (tasks.size() == want) break;
    more = rows.size() == f.limit;
    if (!more) break;
    f.after_task_id = cursor;
  }
  json body = {{"tasks", tasks}};
  body["next_cursor"] = more ? json(cursor) : json(nullptr);
  respond(reply(body));
}

// GET /v1/admin/reviewers: the reviewers this admin may manage, each with its workload per domain.
void list_reviewers(App& app, const Principal& who, http::Respond& respond) {
  json out = json::array();
  for (auto& r : app.reviewers().list()) {
    if (!may_manage(who, r.domains)) continue;
    json j = reviewer_json(r);
    json workload = json::object();
    for (auto& [name, _] : app.config().domains) {
      if (!r.domains.empty() && !list_contains(r.domains, name)) continue;
      auto s = app.assignment().stats(r.id, name);
      workload[name] = {{"held", s.held}, {"consecutive", s.consecutive}, {"last_hour", s.last_hour},
                        {"gold_answers", s.gold_answers},
                        {"gold_accuracy", s.gold_accuracy() ? json(*s.gold_accuracy()) : json(nullptr)},
                        {"consensus_rounds", s.consensus_rounds},
                        {"agreement", s.agreement() ? json(*s.agreement()) : json(nullptr)}};
    }
    j["workload"] = std::move(workload);
    out.push_back(std::move(j));
  }
  respond(reply({{"reviewers", out}}));
}

// POST /v1/admin/reviewers: adds a reviewer, or updates the fields the body names.
void put_reviewer(App& app, const http::Request& req, const Principal& who, http::Respond& respond) {
  json b = body_object(req, {"id", "name", "roles", "domains", "skills", "capacity", "cost_per_hour", "disabled"}, false, app.config().max_json_depth);
  sdk::ReviewerRecord r;
  r.id = string_field(b, "id", true);
  if (auto existing = app.reviewers().find(r.id, /*fresh=*/true)) {
    require_manage(who, *existing);
    r = *existing;
  }
  if (b.contains("name")) r.name = string_field(b, "name");
  if (b.contains("roles")) r.roles = list_field(b, "roles");
  if (b.contains("domains")) r.domains = list_field(b, "domains");
  if (b.contains("skills")) r.skills = list_field(b, "skills");
  if (auto it = b.find("capacity"); it != b.end()) {
    if (!it->is_number_integer()) throw ServiceError(422, "invalid_field", "capacity: expected an integer", "capacity");
    r.capacity = it->get<std::int64_t>();
  }
  if (auto it = b.find("cost_per_hour"); it != b.end()) {
    if (!it->is_number()) throw ServiceError(422, "invalid_field", "cost_per_hour: expected a number", "cost_per_hour");
    r.cost_per_hour = it->get<double>();
  }
  if (auto it = b.find("disabled"); it != b.end()) {
    if (!it->is_boolean()) throw ServiceError(422, "invalid_field", "disabled: expected a boolean", "disabled");
    r.disabled = it->get<bool>();
  }
  for (auto& d : split_list(r.domains))
    if (!app.domains().find(d)) throw ServiceError(422, "invalid_field", "domains: no domain named \"" + d + "\"", "domains");
  require_manage(who, r);
  respond(reply(reviewer_json(app.reviewers().put(r, who.name))));
}

// POST /v1/admin/reviewers/{id}/disable|enable
void set_reviewer_disabled(App& app, const std::string& id, bool disable, const Principal& who, http::Respond& respond) {
  if (auto existing = app.reviewers().find(id, /*fresh=*/true)) require_manage(who, *existing);
  auto r = app.reviewers().set_disabled(id, disable, who.name);
  json out = reviewer_json(r);
  // Their open leases go back to the queue now rather than at lease expiry: a disabled
  // reviewer may no longer submit (review/review.cpp), so nobody would finish them.
  if (disable) out["released_tasks"] = app.review().release_all_held(r.id, "reviewer disabled", who);
  respond(reply(out));
}

// POST /v1/review/tasks/{id}/assign|reassign (admin): reassign releases a held task first.
void assign(App& app, const http::Request& req, std::string_view id_part, bool reassign, const Principal& who,
            http::Respond& respond) {
  const std::int64_t id = task_id_of(id_part);
  json b = body_object(req, {"reviewer", "reason"}, true, app.config().max_json_depth);
  const std::string reviewer = string_field(b, "reviewer");
  std::string reason = string_field(b, "reason");
  if (reassign) {
    std::optional<sdk::TaskRecord> t;
    auto st = app.storage().get_task(id, t);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
    if (t && is(t->status, TaskState::assigned)) app.review().release(id, reason.empty() ? "reassign" : reason, who);
  }
  const std::string chosen = app.review().assign(id, reviewer, reason, who);
  respond(reply({{"task_id", id}, {"preassigned", chosen}}));
}

}  // namespace

void list_reviewers(RouteCall& c) { list_reviewers(c.app, c.who, c.respond); }
void put_reviewer(RouteCall& c) { put_reviewer(c.app, c.req, c.who, c.respond); }
void disable_reviewer(RouteCall& c) { set_reviewer_disabled(c.app, std::string(c.params[0]), true, c.who, c.respond); }
void enable_reviewer(RouteCall& c) { set_reviewer_disabled(c.app, std::string(c.params[0]), false, c.who, c.respond); }
void list_tasks(RouteCall& c) { list_tasks(c.app, c.req, c.who, c.respond); }
void assign_task(RouteCall& c) { assign(c.app, c.req, c.params[0], false, c.who, c.respond); }
void reassign_task(RouteCall& c) { assign(c.app, c.req, c.params[0], true, c.who, c.respond); }

}  // namespace hitl::service
