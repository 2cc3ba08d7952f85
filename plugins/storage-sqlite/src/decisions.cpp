// Decisions: new decisions (with their review task), final outcomes, erasure, ground truth, and
// the decision reads.
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

using sdk::Code;
using sdk::Status;

// The task row goes first, so the decision row is written once with its task_id (updating it
// afterwards rewrote every flagged decision's row: issue 19, docs/performance.md). A repeated id
// is rare here (ingest answers repeated ids before this): its task row is deleted again, inside
// the same transaction, so nobody ever sees it; AUTOINCREMENT never hands that id out again.
void SqliteStorage::insert_decision(sdk::NewDecision& nd) {
  auto& d = nd.decision;
  nd.duplicate = false;  // recomputed: a batch retried after a rollback may carry a stale flag
  if (nd.task) insert_task(nd);
  auto& s = fresh(w_->insert_decision);
  ResetOnExit reset{s};
  kDecisions.bind(s, d);
  if (s.exec() == 1) return;
  // (domain, id) exists: answer with the stored original so a retried ingest is idempotent.
  if (nd.task) {
    exec_with(w_->delete_new_task, nd.task->task_id);
    nd.task->task_id = 0;
  }
  auto& q = fresh(w_->select_decision);
  ResetOnExit reset_select{q};
  q.bindNoCopy(1, d.domain);
  q.bindNoCopy(2, d.id);
  if (!q.executeStep()) throw BatchError{Code::internal, "decision '" + d.id + "' conflicted but cannot be read"};
  d = kDecisions.read(q);
  nd.duplicate = true;
}

void SqliteStorage::write_final(const sdk::FinalOutcome& f) {
  if (exec_with(w_->set_final, f.final_label, f.final_outcome, f.final_ms, f.domain, f.decision_id) == 0)
    throw BatchError{Code::not_found, "final outcome for unknown decision '" + f.decision_id + "' in domain '" +
                                          f.domain + "'"};
}

void SqliteStorage::write_erasure(sdk::PayloadErasure& e) {
  e.applied = exec_with(w_->erase_decision, e.erased_ms, e.domain, e.decision_id) == 1;
  // Feedback and comments too, also when the decision was erased before (a retried erasure
  // then still catches rows written since, e.g. a review submitted after the first erasure).
  exec_with(w_->erase_feedback, e.domain, e.decision_id);
  exec_with(w_->erase_comments, e.domain, e.decision_id);
}

void SqliteStorage::write_truth(const sdk::GroundTruth& t) {
  if (exec_with(w_->set_truth, t.label, t.reported_ms, t.domain, t.decision_id) == 0)
    throw BatchError{Code::not_found, "ground truth for unknown decision '" + t.decision_id + "' in domain '" +
                                          t.domain + "'"};
}

Status SqliteStorage::get_decision(const std::string& domain, const std::string& id,
                                   std::optional<sdk::DecisionRecord>& out) noexcept {
  return get("get_decision", Query(kDecisions.select()).where("domain = ?", domain).where("id = ?", id), kDecisions,
             out);
}

// Storage 1.2: ingest's repeated-id check for a whole batch, under one read lock with one prepared
// statement. get_decision per id built its query text, found it in the statement cache by that
// text and took the lock each time: 4 % of `hitl ingest`'s CPU for what is one B-tree descent.
Status SqliteStorage::find_decisions(const std::string& domain, const std::vector<std::string>& ids,
                                     std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept {
  out.assign(ids.size(), std::nullopt);
  if (ids.empty()) return Status::Ok();
  const std::string text = Query(kDecisions.select()).where("domain = ?", domain).where("id = ?", ids.front()).text;
  return read("find_decisions", [&](StatementCache& cache) {
    auto& s = fresh(cache.get(text));
    ResetOnExit reset{s};
    s.bindNoCopy(1, domain);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      s.bindNoCopy(2, ids[i]);
      if (s.executeStep()) out[i] = kDecisions.read(s);
      s.reset();
    }
  });
}

namespace {

Query decision_query(const sdk::DecisionFilter& f) {
  Query q(kDecisions.select(f.with_payload));
  q.where("domain = ?", f.domain).created_between(f.from_ms, f.to_ms);
  if (f.exclude_erased) q.where("erased_ms = 0");
  // Row-value comparison: continues after (created_ms, id) through decisions_by_created.
  if (f.after_created_ms || !f.after_id.empty()) q.where("(created_ms, id) > (?, ?)", f.after_created_ms, f.after_id);
  return q.order_and_limit("created_ms, id", f.limit);
}

}  // namespace

Status SqliteStorage::list_decisions(const sdk::DecisionFilter& filter, std::vector<sdk::DecisionRecord>& out) noexcept {
  out.clear();
  if (filter.domain.empty())
    return Status::Error(Code::invalid_argument, "storage-sqlite: list_decisions needs a domain");
  return list("list_decisions", decision_query(filter), kDecisions, out);
}

}  // namespace hitl::storage_sqlite
