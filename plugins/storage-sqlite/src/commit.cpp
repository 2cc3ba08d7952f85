// commit(): one write batch in one IMMEDIATE transaction, rolled back whole on any failure.
#include "storage_impl.hpp"

#include <sqlite3.h>

namespace hitl::storage_sqlite {
namespace {

using sdk::Code;
using sdk::Status;

// Runs `write` on each element of one part of a batch, keeping `stage`/`index` on the one being
// written (the batch error names it).
template <class T, class Write>
void each(std::vector<T>& items, const char* name, const char*& stage, std::size_t& index, Write write) {
  stage = name;
  for (index = 0; index < items.size(); ++index) write(items[index]);
}

}  // namespace

SqliteStorage::SqliteStorage(StorageConfig cfg, std::unique_ptr<SQLite::Database> writer,
                             std::unique_ptr<SQLite::Database> reader)
    : cfg_(std::move(cfg)),
      wdb_(std::move(writer)),
      w_(std::make_unique<WriteStatements>(*wdb_)),
      rdb_(std::move(reader)),
      r_(std::make_unique<StatementCache>(*rdb_)),
      checkpointer_(std::make_unique<Checkpointer>(cfg_.path, cfg_.synchronous_full, cfg_.busy_timeout_ms, *wdb_)) {}

Status SqliteStorage::validate(const sdk::WriteBatch& b) {
  auto bad = [](std::string m) { return Status::Error(Code::invalid_argument, "storage-sqlite: " + std::move(m)); };
  for (std::size_t i = 0; i < b.decisions.size(); ++i)
    if (b.decisions[i].decision.domain.empty() || b.decisions[i].decision.id.empty())
      return bad("decision " + std::to_string(i) + " of the batch has an empty domain or id");
  for (const auto& u : b.task_updates)
    if (normalized_status_list(u.from).empty() || u.to.empty())
      return bad("task update for task " + std::to_string(u.task_id) + " needs a non-empty 'from' list and 'to'");
  for (const auto& f : b.finals)
    if (f.domain.empty() || f.decision_id.empty()) return bad("final outcome with an empty domain or decision_id");
  for (const auto& t : b.tokens)
    if (t.name.empty() || t.hash.empty()) return bad("token with an empty name or hash");
  for (const auto& e : b.erasures)
    if (e.domain.empty() || e.decision_id.empty()) return bad("erasure with an empty domain or decision_id");
  for (const auto& t : b.truths)
    if (t.domain.empty() || t.decision_id.empty() || t.label.empty())
      return bad("ground truth with an empty domain, decision_id or label");
  return Status::Ok();
}

Status SqliteStorage::commit(sdk::WriteBatch& batch) noexcept {
  if (Status st = validate(batch); !st.ok()) return st;
  if (batch.empty()) return Status::Ok();
  std::lock_guard lock(write_mu_);
  const char* stage = "beginning the transaction";
  std::size_t index = 0;
  try {
    fresh(w_->begin).exec();
    apply(batch, stage, index);
    stage = "committing";
    index = 0;
    fresh(w_->commit).exec();
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    roll_back();
    return Status::Error(code_for(e), std::string("storage-sqlite: commit failed while ") + stage + " " +
                                          std::to_string(index) + " of the batch (rolled back): " + e.what());
  } catch (const BatchError& e) {
    roll_back();
    return Status::Error(e.code, "storage-sqlite: commit failed (rolled back): " + e.message);
  } catch (const std::exception& e) {
    roll_back();
    return Status::Error(Code::internal, std::string("storage-sqlite: commit failed while ") + stage +
                                             " (rolled back): " + e.what());
  }
}

void SqliteStorage::roll_back() noexcept {
  w_->reset_all();
  // Some errors (SQLITE_FULL, IOERR, ...) already rolled the transaction back; a second
  // ROLLBACK would only fail with "no transaction is active".
  if (sqlite3_get_autocommit(wdb_->getHandle()) == 0) {
    try {
      fresh(w_->rollback).exec();
    } catch (...) {
      // Nothing better to do: the connection closes (and SQLite rolls back) with the object.
    }
    w_->rollback.tryReset();
  }
}

// Applies every part of a batch inside the caller's transaction; `stage` and `index` name the
// record being written when one fails.
void SqliteStorage::apply(sdk::WriteBatch& b, const char*& stage, std::size_t& index) {
  each(b.decisions, "inserting decision", stage, index, [this](sdk::NewDecision& nd) { insert_decision(nd); });
  each(b.task_updates, "updating task", stage, index, [this](sdk::TaskUpdate& u) { write_task_update(u); });
  each(b.reviews, "inserting review", stage, index, [this](sdk::ReviewRecord& r) { write_review(r); });
  each(b.feedback, "inserting feedback", stage, index, [this](const sdk::FeedbackRecord& f) { write_feedback(f); });
  each(b.finals, "recording final outcome", stage, index, [this](const sdk::FinalOutcome& f) { write_final(f); });
  each(b.task_patches, "patching task", stage, index, [this](const sdk::TaskPatch& p) { write_task_patch(p); });
  each(b.reviewers, "storing reviewer", stage, index, [this](const sdk::ReviewerRecord& r) { write_reviewer(r); });
  each(b.deliveries, "inserting delivery", stage, index, [this](sdk::DeliveryRecord& d) { write_delivery(d); });
  each(b.delivery_updates, "updating delivery", stage, index, [this](const sdk::DeliveryUpdate& u) { write_delivery_update(u); });
  each(b.erasures, "erasing payload", stage, index, [this](sdk::PayloadErasure& e) { write_erasure(e); });
  each(b.truths, "recording ground truth", stage, index, [this](const sdk::GroundTruth& t) { write_truth(t); });
  each(b.tokens, "storing token", stage, index, [this](const sdk::TokenRecord& t) { write_token(t); });
  stage = "appending audit record";
  append_audit(b, index);
}

}  // namespace hitl::storage_sqlite
