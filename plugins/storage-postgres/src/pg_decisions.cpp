// New decisions and the review tasks they open: a batch's tasks, decisions and (pg_audit.cpp)
// audit records each go in with one COPY, whatever the batch's size; the rare batch holding an
// id that is already stored takes the INSERT ... ON CONFLICT path instead (Table::bulk_insert,
// kRowsPerInsert rows per statement), which answers each duplicate with the stored original.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

namespace hitl::storage_postgres {
namespace {

// Calls f(first, count) for consecutive chunks of at most kRowsPerInsert of n items.
template <class F>
void in_chunks(std::size_t n, F f) {
  for (std::size_t first = 0; first < n; first += kRowsPerInsert) f(first, std::min(kRowsPerInsert, n - first));
}

// "{1,2,3}": a bigint[] parameter.
std::string bigint_array(const std::vector<std::int64_t>& values) {
  std::string a = "{";
  for (std::size_t i = 0; i < values.size(); ++i) pg::append_array_element(a += i ? "," : "", values[i]);
  return a += '}';
}

const sdk::DecisionRecord& decision_of(const sdk::NewDecision& nd) { return nd.decision; }

}  // namespace

// The tasks go in first, so each decision is inserted once, already carrying its task id, as
// storage-sqlite writes them. The decisions are one COPY inside a savepoint: a key that exists
// -- stored before, twice in this batch, or by another instance meanwhile (whose commit COPY
// waits for) -- fails it with unique_violation, and the batch's decisions then go in through
// insert_decisions_one_by_one. Ingest answers repeated ids before the batch, so that is rare.
void PgStorage::insert_decisions(Tx& tx, std::vector<sdk::NewDecision>& items) {
  if (items.empty()) return;
  std::vector<sdk::NewDecision*> opening;
  for (auto& nd : items) {
    nd.duplicate = false;  // recomputed: a batch retried after a failure may carry a stale flag
    if (nd.task) opening.push_back(&nd);
  }
  insert_tasks(tx, opening);
  try {
    pqxx::subtransaction copying(tx.w, "decisions_copy");
    kDecisions.copy_in(copying, items.begin(), items.end(), decision_of);
    copying.commit();
    return;
  } catch (const pqxx::unique_violation&) {
    // rolled back to the savepoint: the tasks stay, the decisions go in one by one below
  }
  insert_decisions_one_by_one(tx, items);
}

// The path for a batch with a stored id: kRowsPerInsert decisions per INSERT ... ON CONFLICT
// DO NOTHING RETURNING. A decision that inserted nothing is a duplicate: the task made for it is
// deleted again in the same transaction (no task is left without its decision), and it is
// answered with the stored original and its task, so a retried ingest is idempotent.
void PgStorage::insert_decisions_one_by_one(Tx& tx, std::vector<sdk::NewDecision>& items) {
  std::vector<sdk::NewDecision*> duplicates;
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first), end = begin + static_cast<std::ptrdiff_t>(n);
    // The row that won names its task id, which tells the winner apart from a repeat in the batch.
    std::set<std::tuple<std::string, std::string, std::int64_t>> inserted;
    for (const auto& row : tx.run(kDecisions.bulk_insert() + " ON CONFLICT(domain, id) DO NOTHING RETURNING domain, id, task_id",
                                  kDecisions.bulk_params(begin, end, decision_of)))
      inserted.emplace(row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>());
    std::vector<std::int64_t> orphans;
    for (auto it = begin; it != end; ++it) {
      if (inserted.erase({it->decision.domain, it->decision.id, it->decision.task_id}) == 1) continue;
      duplicates.push_back(&*it);
      if (it->task) orphans.push_back(std::exchange(it->task->task_id, 0));
    }
    if (!orphans.empty()) tx.run("DELETE FROM tasks WHERE task_id = ANY($1::bigint[])", {bigint_array(orphans)});
  });
  for (auto* nd : duplicates) {
    const auto r = tx.run(kDecisions.select() + " WHERE domain = $1 AND id = $2",
                          pg::params(nd->decision.domain, nd->decision.id));
    if (r.empty()) throw BatchError{sdk::Code::internal, "decision '" + nd->decision.id + "' conflicted but cannot be read"};
    nd->decision = kDecisions.read(r[0]);
    nd->duplicate = true;
  }
}

// The batch's review tasks in one COPY, their ids drawn first from the table's identity sequence
// in one statement (in input order, as the identity would hand them out): no RETURNING to read
// back and match. Each task and its decision learn the task id.
void PgStorage::insert_tasks(Tx& tx, std::vector<sdk::NewDecision*>& opening) {
  if (opening.empty()) return;
  std::vector<std::int64_t> ids;
  ids.reserve(opening.size());
  // The sequence is looked up once (an init plan), not per row: 4x faster for 125k ids.
  for (const auto& row : tx.run("SELECT nextval((SELECT pg_get_serial_sequence('tasks', 'task_id'))::regclass) "
                                "FROM generate_series(1, $1::bigint)",
                                pg::params(static_cast<std::int64_t>(opening.size()))))
    ids.push_back(row[0].as<std::int64_t>());
  if (ids.size() != opening.size()) throw BatchError{sdk::Code::internal, "the task id sequence answered too few ids"};
  std::sort(ids.begin(), ids.end());
  for (std::size_t i = 0; i < opening.size(); ++i) {
    auto& nd = *opening[i];
    auto& t = *nd.task;
    t.domain = nd.decision.domain;
    t.decision_id = nd.decision.id;
    if (t.status.empty()) t.status = "pending";
    nd.decision.task_id = t.task_id = ids[i];
  }
  kTasks.copy_in(tx.w, opening.begin(), opening.end(), [](const sdk::NewDecision* nd) -> const sdk::TaskRecord& { return *nd->task; });
}

void PgStorage::insert_feedback(Tx& tx, const std::vector<sdk::FeedbackRecord>& items) {
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first);
    tx.run(kFeedback.bulk_insert(), kFeedback.bulk_params(begin, begin + static_cast<std::ptrdiff_t>(n),
                                                          [](const sdk::FeedbackRecord& f) -> const auto& { return f; }));
  });
}

}  // namespace hitl::storage_postgres
