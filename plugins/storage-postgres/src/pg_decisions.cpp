// New decisions and the review tasks they open. A large batch's tasks, decisions and (pg_audit.cpp)
// audit records each go in with one COPY; the rare large batch holding an id that is already
// stored takes the INSERT ... ON CONFLICT path instead (Table::bulk_insert, kRowsPerInsert rows
// per statement), which answers each duplicate with the stored original. A small batch (fewer
// than pg::kCopyFromRows rows: the HTTP intake's group commits) takes that INSERT path at once,
// and its tasks go in with their ids in one statement: COPY's extra round trips and savepoint
// would cost it more than the server's parsing saves.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <tuple>
#include <utility>

namespace hitl::storage_postgres {
namespace {

const sdk::DecisionRecord& decision_of(const sdk::NewDecision& nd) { return nd.decision; }
const sdk::TaskRecord& task_of(const sdk::NewDecision* nd) { return *nd->task; }

}  // namespace

// The tasks go in first, so each decision is inserted once, already carrying its task id, as
// storage-sqlite writes them. A small batch's decisions go in by INSERT ... ON CONFLICT (one
// statement, no savepoint). A large batch's are one COPY inside a savepoint: a key that exists
// -- stored before, twice in this batch, or by another instance meanwhile (whose commit COPY
// waits for) -- fails it with unique_violation, and the batch's decisions then go in through
// insert_decisions_on_conflict. Ingest answers repeated ids before the batch, so that is rare.
void PgStorage::insert_decisions(Tx& tx, std::vector<sdk::NewDecision>& items) {
  if (items.empty()) return;
  std::vector<sdk::NewDecision*> opening;
  for (auto& nd : items) {
    nd.duplicate = false;  // recomputed: a batch retried after a failure may carry a stale flag
    if (nd.task) opening.push_back(&nd);
  }
  insert_tasks(tx, opening);
  if (items.size() < pg::kCopyFromRows) return insert_decisions_on_conflict(tx, items);
  try {
    pqxx::subtransaction copying(tx.w, "decisions_copy");
    kDecisions.copy_in(copying, items.begin(), items.end(), decision_of);
    copying.commit();
    return;
  } catch (const pqxx::unique_violation&) {
    // rolled back to the savepoint: the tasks stay, the decisions go in below
  }
  insert_decisions_on_conflict(tx, items);
}

// The path of a small batch, and of a large one with a stored id: kRowsPerInsert decisions per
// INSERT ... ON CONFLICT DO NOTHING RETURNING. A decision that inserted nothing is a duplicate:
// the task made for it is deleted again in the same transaction (no task is left without its
// decision), and it is answered with the stored original and its task, so a retried ingest is
// idempotent.
void PgStorage::insert_decisions_on_conflict(Tx& tx, std::vector<sdk::NewDecision>& items) {
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
    if (!orphans.empty()) tx.run("DELETE FROM tasks WHERE task_id = ANY($1::bigint[])", {array_of(orphans, std::identity{})});
  });
  for (auto* nd : duplicates) {
    const auto r = tx.run(kDecisions.select() + " WHERE domain = $1 AND id = $2",
                          pg::params(nd->decision.domain, nd->decision.id));
    if (r.empty()) throw BatchError{sdk::Code::internal, "decision '" + nd->decision.id + "' conflicted but cannot be read"};
    nd->decision = kDecisions.read(r[0]);
    nd->duplicate = true;
  }
}

// The batch's review tasks, their ids drawn from the table's identity sequence in input order, as
// the identity would hand them out: no RETURNING to read back and match. A small batch draws and
// inserts in one statement (Table::insert_with_ids); a large one draws the ids in one
// statement and copies the rows in. Each task and its decision learn the task id.
void PgStorage::insert_tasks(Tx& tx, std::vector<sdk::NewDecision*>& opening) {
  if (opening.empty()) return;
  for (auto* nd : opening) {
    auto& t = *nd->task;
    t.domain = nd->decision.domain;
    t.decision_id = nd->decision.id;
    if (t.status.empty()) t.status = "pending";
  }
  const bool small = opening.size() < pg::kCopyFromRows;
  pg::Params p = small ? kTasks.bulk_params(opening.begin(), opening.end(), task_of) : pg::Params{};
  p.push_back(pg::text_of(static_cast<std::int64_t>(opening.size())));
  // The sequence is looked up once (an init plan), not per row: 4x faster for 125k ids.
  const auto rows = tx.run(small ? kTasks.insert_with_ids()
                                 : "SELECT nextval((SELECT pg_get_serial_sequence('tasks', 'task_id'))::regclass) "
                                   "FROM generate_series(1, $1::bigint)", p);
  std::vector<std::int64_t> ids;
  ids.reserve(opening.size());
  for (const auto& row : rows) ids.push_back(row[0].as<std::int64_t>());
  if (ids.size() != opening.size()) throw BatchError{sdk::Code::internal, "the task id sequence answered too few ids"};
  if (!small) std::sort(ids.begin(), ids.end());  // the small statement answers them in row order
  for (std::size_t i = 0; i < opening.size(); ++i) opening[i]->decision.task_id = opening[i]->task->task_id = ids[i];
  if (!small) kTasks.copy_in(tx.w, opening.begin(), opening.end(), task_of);
}

void PgStorage::insert_feedback(Tx& tx, const std::vector<sdk::FeedbackRecord>& items) {
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first);
    tx.run(kFeedback.bulk_insert(), kFeedback.bulk_params(begin, begin + static_cast<std::ptrdiff_t>(n),
                                                          [](const sdk::FeedbackRecord& f) -> const auto& { return f; }));
  });
}

}  // namespace hitl::storage_postgres
