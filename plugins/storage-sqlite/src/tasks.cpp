// Review tasks: the task a new decision opens, guarded state changes, patches, and the task reads.
#include "storage_impl.hpp"
#include "tables.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_sqlite {

using sdk::Code;
using sdk::Status;

// The task a new decision opens; the decision (not written yet) gets its id.
void SqliteStorage::insert_task(sdk::NewDecision& nd) {
  auto& d = nd.decision;
  auto& t = *nd.task;
  t.domain = d.domain;
  t.decision_id = d.id;
  if (t.status.empty()) t.status = "pending";
  kTasks.exec_insert(w_->insert_task, t);
  t.task_id = wdb_->getLastInsertRowid();
  d.task_id = t.task_id;
}

void SqliteStorage::write_task_update(sdk::TaskUpdate& u) {
  const std::string from = normalized_status_list(u.from);
  // A guard that does not match (lease lost, already completed) is an answer, not an error.
  u.applied = exec_with(w_->update_task, u.to, u.assignee, u.lease_expires_ms, u.updated_ms, u.task_id, from) == 1;
}

void SqliteStorage::write_task_patch(const sdk::TaskPatch& p) {
  std::string set;
  storage_common::each_patchable(p, [&](const char* column, const auto& v) {
    if (v) set.append(set.empty() ? "" : ", ").append(column).append(" = ?");
  });
  if (set.empty()) return;  // nothing to change
  auto& s = fresh(w_->patches.get("UPDATE tasks SET " + set + " WHERE task_id = ?"));
  ResetOnExit reset{s};
  int i = 1;
  storage_common::each_patchable(p, [&](const char*, const auto& v) {
    if (v) bind_value(s, i++, *v);
  });
  s.bind(i, p.task_id);
  if (s.exec() == 0) throw BatchError{Code::not_found, "patch for unknown task " + std::to_string(p.task_id)};
}

Status SqliteStorage::get_task(std::int64_t task_id, std::optional<sdk::TaskRecord>& out) noexcept {
  return get("get_task", Query(kTasks.select()).where("task_id = ?", task_id), kTasks, out);
}

namespace {

Query task_query(const sdk::TaskFilter& f) {
  Query q(kTasks.select());
  q.where_set("domain = ?", f.domain).where_set("status = ?", f.status).created_between(f.from_ms, f.to_ms);
  q.where_set("task_id > ?", f.after_task_id).where_set("assignee = ?", f.assignee);
  q.where_set("sla_state = ?", f.sla_state);
  if (f.min_priority > 0) q.where("priority >= ?", f.min_priority);
  return q.order_and_limit("task_id", f.limit);
}

}  // namespace

Status SqliteStorage::list_tasks(const sdk::TaskFilter& filter, std::vector<sdk::TaskRecord>& out) noexcept {
  return list("list_tasks", task_query(filter), kTasks, out);
}

}  // namespace hitl::storage_sqlite
