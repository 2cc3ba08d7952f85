// The review path's kinds -- task moves, reviews, final outcomes, task patches, deliveries -- in
// one statement per kind (or one per set of patched columns), whatever the number of rows: the
// host's writer merges many reviewers' claims and submits into one batch, and one statement per
// row made each review pair ~5 round trips of the commit. Each UPDATE joins the table to the
// rows as `unnest(...) WITH ORDINALITY` and answers the row numbers it changed; each INSERT draws
// its ids in row order (Table::insert_with_ids). When a key repeats among one kind's rows, an
// UPDATE ... FROM would apply only one of them: that kind then goes one statement per row
// (pg_writes.cpp), in order, as does a kind with one row (no cheaper in bulk).
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include "batch_rules.hpp"

#include <map>
#include <set>
#include <tuple>

namespace hitl::storage_postgres {
namespace {

// Whether key(row) is the same for two of `rows`.
template <class T, class Key>
bool key_repeats(const std::vector<T>& rows, Key key) {
  std::set<decltype(key(rows.front()))> seen;
  for (const auto& r : rows)
    if (!seen.insert(key(r)).second) return true;
  return false;
}

// Which of `n` rows an UPDATE ... FROM unnest(...) WITH ORDINALITY changed: it answers their
// row numbers (1-based).
std::vector<bool> rows_changed(const pqxx::result& r, std::size_t n) {
  std::vector<bool> changed(n, false);
  for (const auto& row : r) {
    const auto i = row[0].as<std::int64_t>();
    if (i < 1 || static_cast<std::size_t>(i) > n) throw BatchError{sdk::Code::internal, "a row number out of range came back"};
    changed[static_cast<std::size_t>(i - 1)] = true;
  }
  return changed;
}

// One kind of a batch: `bulk(rows)` when there are several rows and no key repeats among them,
// else `row(r)` for each in order. A failing bulk statement is named by its kind (index
// kWholeKind); a failing row by its index.
template <class T, class Bulk, class Row>
void write_kind(std::vector<T>& rows, bool repeats, const char* each_name, const char* bulk_name, const char*& stage,
                std::size_t& index, Bulk bulk, Row row) {
  if (rows.size() < 2 || repeats) return storage_common::each(rows, each_name, stage, index, row);
  stage = bulk_name;
  index = kWholeKind;
  bulk(rows);
}

// "UPDATE tasks t SET <column> = u.<column>, ... FROM unnest(<task ids>, <columns>) ...": for a
// group of patches that set the same columns, `sample` one of them.
std::string patch_group_sql(const sdk::TaskPatch& sample) {
  std::string set, names = "task_id", arrays = "$1::bigint[]";
  int n = 1;
  storage_common::each_patchable(sample, [&](const char* column, const auto& v) {
    if (!v) return;
    set.append(set.empty() ? "" : ", ").append(column).append(" = u.").append(column);
    names.append(", ").append(column);
    arrays.append(", $" + std::to_string(++n) + "::" + array_type<std::remove_cvref_t<decltype(*v)>>());
  });
  return "UPDATE tasks t SET " + set + " FROM unnest(" + arrays + ") WITH ORDINALITY AS u(" + names +
         ", n) WHERE t.task_id = u.task_id RETURNING u.n";
}

// The columns a patch sets, as bits in each_patchable's order (0: it sets none).
unsigned patched_columns(const sdk::TaskPatch& p) {
  unsigned bits = 0, bit = 1;
  storage_common::each_patchable(p, [&](const char*, const auto& v) {
    if (v) bits |= bit;
    bit <<= 1;
  });
  return bits;
}

std::int64_t task_id_of(const auto& row) { return row.task_id; }

}  // namespace

void PgStorage::write_review_path(Tx& tx, sdk::WriteBatch& b, const char*& stage, std::size_t& index) {
  write_kind(b.task_updates, key_repeats(b.task_updates, task_id_of<sdk::TaskUpdate>), "updating task", "updating the batch's tasks",
             stage, index, [&](auto& rows) { update_tasks(tx, rows); }, [&](auto& u) { write_task_update(tx, u); });
  write_kind(b.reviews, false, "inserting review", "inserting the batch's reviews", stage, index,
             [&](auto& rows) { insert_with_ids(tx, kReviews, rows, &sdk::ReviewRecord::review_id); },
             [&](auto& r) { write_review(tx, r); });
}

void PgStorage::write_outcomes(Tx& tx, sdk::WriteBatch& b, const char*& stage, std::size_t& index) {
  const auto decision_of = [](const sdk::FinalOutcome& f) { return std::tie(f.domain, f.decision_id); };
  write_kind(b.finals, key_repeats(b.finals, decision_of), "recording final outcome",
             "recording the batch's final outcomes", stage, index, [&](auto& rows) { record_finals(tx, rows); },
             [&](const auto& f) { write_final(tx, f); });
  write_kind(b.task_patches, key_repeats(b.task_patches, task_id_of<sdk::TaskPatch>), "patching task",
             "patching the batch's tasks", stage, index, [&](auto& rows) { patch_tasks(tx, rows); },
             [&](const auto& p) { write_task_patch(tx, p); });
}

void PgStorage::write_deliveries(Tx& tx, std::vector<sdk::DeliveryRecord>& rows, const char*& stage, std::size_t& index) {
  for (auto& d : rows)
    if (d.status.empty()) d.status = "pending";
  write_kind(rows, false, "inserting delivery", "inserting the batch's deliveries", stage, index,
             [&](auto& all) { insert_with_ids(tx, kDeliveries, all, &sdk::DeliveryRecord::delivery_id); },
             [&](auto& d) { write_delivery(tx, d); });
}

// Each row's guard (the task's status one of its `from` list) checked and its move applied by
// one UPDATE; `applied` is set by the row numbers it answers. A guard that does not match is an
// answer, not an error; a matching guard with an illegal pair fails the statement
// (check_violation from the lifecycle trigger, which runs for each row).
void PgStorage::update_tasks(Tx& tx, std::vector<sdk::TaskUpdate>& rows) {
  using U = sdk::TaskUpdate;
  static const std::string sql =
      "UPDATE tasks t SET status = u.to_status, assignee = u.assignee, lease_expires_ms = u.lease_expires_ms, "
      "updated_ms = u.updated_ms FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
      "$6::bigint[]) WITH ORDINALITY AS u(task_id, from_list, to_status, assignee, lease_expires_ms, updated_ms, n) "
      "WHERE t.task_id = u.task_id AND t.status = ANY(string_to_array(regexp_replace(u.from_list, '\\s', '', 'g'), ',')) "
      "RETURNING u.n";
  const auto changed = rows_changed(
      tx.run(sql, {array_of(rows, &U::task_id), array_of(rows, &U::from), array_of(rows, &U::to),
                   array_of(rows, &U::assignee), array_of(rows, &U::lease_expires_ms), array_of(rows, &U::updated_ms)}),
      rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i].applied = changed[i];
}

// Up to kRowsPerInsert rows per statement, each row learning its key (drawn in row order).
template <class Rec>
void PgStorage::insert_with_ids(Tx& tx, const Table<Rec>& table, std::vector<Rec>& rows, std::int64_t Rec::*key) {
  in_chunks(rows.size(), [&](std::size_t first, std::size_t n) {
    const auto begin = rows.begin() + static_cast<std::ptrdiff_t>(first);
    auto p = table.bulk_params(begin, begin + static_cast<std::ptrdiff_t>(n), [](const Rec& r) -> const Rec& { return r; });
    p.push_back(pg::text_of(static_cast<std::int64_t>(n)));
    const auto ids = tx.run(table.insert_with_ids(), p);
    if (ids.size() != n) throw BatchError{sdk::Code::internal, std::string(table.name()) + ": the id sequence answered too few ids"};
    std::size_t i = first;
    for (const auto& row : ids) rows[i++].*key = row[0].template as<std::int64_t>();
  });
}

// One UPDATE for every final; fewer rows changed than given means a decision is unknown: the
// first such row is named, as write_final names it.
void PgStorage::record_finals(Tx& tx, const std::vector<sdk::FinalOutcome>& rows) {
  using F = sdk::FinalOutcome;
  static const std::string sql =
      "UPDATE decisions d SET final_label = u.final_label, final_outcome = u.final_outcome, final_ms = u.final_ms "
      "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY "
      "AS u(domain, decision_id, final_label, final_outcome, final_ms, n) "
      "WHERE d.domain = u.domain AND d.id = u.decision_id RETURNING u.n";
  const auto changed = rows_changed(tx.run(sql, {array_of(rows, &F::domain), array_of(rows, &F::decision_id),
                                                 array_of(rows, &F::final_label), array_of(rows, &F::final_outcome),
                                                 array_of(rows, &F::final_ms)}),
                                    rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (!changed[i]) throw unknown_decision("final outcome", rows[i].domain, rows[i].decision_id);
}

// One UPDATE per set of columns the patches change (patches setting none change nothing); an
// unknown task fails the batch naming the first such patch, as write_task_patch does.
void PgStorage::patch_tasks(Tx& tx, const std::vector<sdk::TaskPatch>& rows) {
  std::map<unsigned, std::vector<const sdk::TaskPatch*>> groups;
  for (const auto& p : rows)
    if (const unsigned columns = patched_columns(p)) groups[columns].push_back(&p);
  std::set<const sdk::TaskPatch*> changed;
  for (const auto& [columns, group] : groups) {
    pg::Params p{array_of(group, [](const sdk::TaskPatch* q) { return q->task_id; })};
    std::vector<std::string> arrays;
    for (const auto* q : group) {
      std::size_t i = 0;
      storage_common::each_patchable(*q, [&](const char*, const auto& v) {
        if (!v) return;
        if (arrays.size() <= i) arrays.emplace_back("{");
        pg::append_array_element(arrays[i] += arrays[i].size() > 1 ? "," : "", *v);
        ++i;
      });
    }
    for (auto& a : arrays) p.push_back(a += '}');
    const auto done = rows_changed(tx.run(patch_group_sql(*group.front()), p), group.size());
    for (std::size_t i = 0; i < group.size(); ++i)
      if (done[i]) changed.insert(group[i]);
  }
  for (const auto& p : rows)
    if (patched_columns(p) && !changed.count(&p)) throw unknown_task_patch(p);
}

}  // namespace hitl::storage_postgres
