// New decisions and the review tasks they open, written kRowsPerInsert rows per statement
// (Table::bulk_insert): the write batch's bulk (intake) costs a few round trips per batch, not
// several per decision.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include <map>
#include <set>

namespace hitl::storage_postgres {
namespace {

using Key = std::pair<std::string, std::string>;  // (domain, id)

// Calls f(first, count) for consecutive chunks of at most kRowsPerInsert of n items.
template <class F>
void in_chunks(std::size_t n, F f) {
  for (std::size_t first = 0; first < n; first += kRowsPerInsert) f(first, std::min(kRowsPerInsert, n - first));
}

}  // namespace

void PgStorage::insert_decisions(Tx& tx, std::vector<sdk::NewDecision>& items) {
  std::vector<sdk::NewDecision*> opened, duplicates;
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first);
    for (auto it = begin; it != begin + static_cast<std::ptrdiff_t>(n); ++it) {
      it->duplicate = false;  // recomputed: a batch retried after a failure may carry a stale flag
      if (it->task) it->decision.task_id = 0;  // set once its task row exists
    }
    const auto p = kDecisions.bulk_params(begin, begin + static_cast<std::ptrdiff_t>(n),
                                          [](const sdk::NewDecision& nd) -> const sdk::DecisionRecord& { return nd.decision; });
    // A (domain, id) that exists -- stored before, or earlier in this batch -- inserts nothing.
    std::set<Key> inserted;
    for (const auto& row : tx.run(kDecisions.bulk_insert() + " ON CONFLICT(domain, id) DO NOTHING RETURNING domain, id", p))
      inserted.emplace(row[0].as<std::string>(), row[1].as<std::string>());
    for (std::size_t i = first; i < first + n; ++i) {
      auto& nd = items[i];
      if (inserted.erase({nd.decision.domain, nd.decision.id}) == 0) duplicates.push_back(&nd);
      else if (nd.task) opened.push_back(&nd);
    }
  });
  insert_tasks(tx, opened);
  // Answer a duplicate with the stored original (its task included) so a retried ingest is
  // idempotent; read after the tasks so an original of this same batch has its task_id.
  for (auto* nd : duplicates) {
    const auto r = tx.run(kDecisions.select() + " WHERE domain = $1 AND id = $2",
                          pg::params(nd->decision.domain, nd->decision.id));
    if (r.empty()) throw BatchError{sdk::Code::internal, "decision '" + nd->decision.id + "' conflicted but cannot be read"};
    nd->decision = kDecisions.read(r[0]);
    nd->duplicate = true;
  }
}

void PgStorage::insert_tasks(Tx& tx, std::vector<sdk::NewDecision*>& opened) {
  in_chunks(opened.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = opened.begin() + static_cast<std::ptrdiff_t>(first), end = begin + static_cast<std::ptrdiff_t>(n);
    for (auto it = begin; it != end; ++it) {
      auto& t = *(*it)->task;
      t.domain = (*it)->decision.domain;
      t.decision_id = (*it)->decision.id;
      if (t.status.empty()) t.status = "pending";
    }
    const auto p = kTasks.bulk_params(begin, end, [](const sdk::NewDecision* nd) -> const sdk::TaskRecord& { return *nd->task; });
    std::map<Key, std::int64_t> ids;
    for (const auto& row : tx.run(kTasks.bulk_insert() + " RETURNING domain, decision_id, task_id", p))
      ids[{row[0].as<std::string>(), row[1].as<std::string>()}] = row[2].as<std::int64_t>();
    // The decisions learn their task ids in one UPDATE joined to the (domain, id, task_id) arrays.
    pg::Params link{"{", "{", "{"};
    for (auto it = begin; it != end; ++it) {
      auto& d = (*it)->decision;
      d.task_id = (*it)->task->task_id = ids.at({d.domain, d.id});
      const char* sep = it == begin ? "" : ",";
      pg::append_array_element(link[0] += sep, d.domain);
      pg::append_array_element(link[1] += sep, d.id);
      pg::append_array_element(link[2] += sep, d.task_id);
    }
    for (auto& a : link) a += '}';
    tx.run("UPDATE decisions SET task_id = v.task_id FROM unnest($1::text[], $2::text[], $3::bigint[]) "
           "AS v(domain, id, task_id) WHERE decisions.domain = v.domain AND decisions.id = v.id",
           link);
  });
}

void PgStorage::insert_feedback(Tx& tx, const std::vector<sdk::FeedbackRecord>& items) {
  in_chunks(items.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = items.begin() + static_cast<std::ptrdiff_t>(first);
    tx.run(kFeedback.bulk_insert(), kFeedback.bulk_params(begin, begin + static_cast<std::ptrdiff_t>(n),
                                                          [](const sdk::FeedbackRecord& f) -> const auto& { return f; }));
  });
}

}  // namespace hitl::storage_postgres
