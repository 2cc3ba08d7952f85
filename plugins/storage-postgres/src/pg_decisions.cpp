// New decisions and the review tasks they open, written kRowsPerInsert rows per statement
// (Table::bulk_insert): the write batch's bulk (intake) costs two statements per 1000 decisions
// (their tasks, then the decisions with their task ids), not several per decision.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <utility>

namespace hitl::storage_postgres {
namespace {

using Key = std::pair<std::string, std::string>;  // (domain, id)

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

}  // namespace

// A chunk's review tasks go in first (one statement), so each decision is inserted once, already
// carrying its task id (one statement), as storage-sqlite writes them; there is no second pass
// over the decisions to link them. A decision whose (domain, id) exists -- stored before, or
// earlier in this batch -- inserts nothing: the task made for it is deleted again in the same
// transaction (one statement, only when there is such a task), so no task is left without its
// decision, and a concurrent writer of the same id (another instance) waits on the key and then
// sees the conflict. Duplicates are rare here: ingest answers repeated ids before the batch.
void PgStorage::insert_decisions(Tx& tx, std::vector<sdk::NewDecision>& items) {
  std::vector<sdk::NewDecision*> duplicates;
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first), end = begin + static_cast<std::ptrdiff_t>(n);
    std::vector<sdk::NewDecision*> opening;
    for (auto it = begin; it != end; ++it) {
      it->duplicate = false;  // recomputed: a batch retried after a failure may carry a stale flag
      if (it->task) opening.push_back(&*it);
    }
    insert_tasks(tx, opening);
    const auto p = kDecisions.bulk_params(begin, end, [](const sdk::NewDecision& nd) -> const sdk::DecisionRecord& { return nd.decision; });
    // The row that won names its task id, which tells the winner apart from a repeat in the batch.
    std::set<std::tuple<std::string, std::string, std::int64_t>> inserted;
    for (const auto& row : tx.run(kDecisions.bulk_insert() + " ON CONFLICT(domain, id) DO NOTHING RETURNING domain, id, task_id", p))
      inserted.emplace(row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>());
    std::vector<std::int64_t> orphans;
    for (auto it = begin; it != end; ++it) {
      if (inserted.erase({it->decision.domain, it->decision.id, it->decision.task_id}) == 1) continue;
      duplicates.push_back(&*it);
      if (it->task) orphans.push_back(std::exchange(it->task->task_id, 0));
    }
    if (!orphans.empty()) tx.run("DELETE FROM tasks WHERE task_id = ANY($1::bigint[])", {bigint_array(orphans)});
  });
  // Answer a duplicate with the stored original (its task included) so a retried ingest is
  // idempotent.
  for (auto* nd : duplicates) {
    const auto r = tx.run(kDecisions.select() + " WHERE domain = $1 AND id = $2",
                          pg::params(nd->decision.domain, nd->decision.id));
    if (r.empty()) throw BatchError{sdk::Code::internal, "decision '" + nd->decision.id + "' conflicted but cannot be read"};
    nd->decision = kDecisions.read(r[0]);
    nd->duplicate = true;
  }
}

// The tasks of one chunk (at most kRowsPerInsert) in one statement; each task and its decision
// learn the task id. The ids come back with their (domain, decision id); a key met twice (the
// same id twice in one batch) takes its ids in row order, which is the order the identity handed
// them out (one INSERT ... SELECT over unnest, read in array order).
void PgStorage::insert_tasks(Tx& tx, std::vector<sdk::NewDecision*>& opening) {
  if (opening.empty()) return;
  for (auto* nd : opening) {
    auto& t = *nd->task;
    t.domain = nd->decision.domain;
    t.decision_id = nd->decision.id;
    if (t.status.empty()) t.status = "pending";
  }
  const auto p = kTasks.bulk_params(opening.begin(), opening.end(),
                                    [](const sdk::NewDecision* nd) -> const sdk::TaskRecord& { return *nd->task; });
  std::map<Key, std::deque<std::int64_t>> ids;
  for (const auto& row : tx.run(kTasks.bulk_insert() + " RETURNING domain, decision_id, task_id", p))
    ids[{row[0].as<std::string>(), row[1].as<std::string>()}].push_back(row[2].as<std::int64_t>());
  for (auto& [key, list] : ids) std::sort(list.begin(), list.end());
  for (auto* nd : opening) {
    auto& list = ids.at({nd->decision.domain, nd->decision.id});
    if (list.empty()) throw BatchError{sdk::Code::internal, "task of decision '" + nd->decision.id + "' was not returned"};
    nd->decision.task_id = nd->task->task_id = list.front();
    list.pop_front();
  }
}

void PgStorage::insert_feedback(Tx& tx, const std::vector<sdk::FeedbackRecord>& items) {
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first);
    tx.run(kFeedback.bulk_insert(), kFeedback.bulk_params(begin, begin + static_cast<std::ptrdiff_t>(n),
                                                          [](const sdk::FeedbackRecord& f) -> const auto& { return f; }));
  });
}

}  // namespace hitl::storage_postgres
