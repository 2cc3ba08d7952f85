// commit(): one write batch in one IMMEDIATE transaction, rolled back whole on any failure.
#include "storage_impl.hpp"

#include "batch_rules.hpp"

#include <sqlite3.h>

namespace hitl::storage_sqlite {

using sdk::Code;
using sdk::Status;
using storage_common::each;

SqliteStorage::SqliteStorage(StorageConfig cfg, std::unique_ptr<SQLite::Database> writer,
                             std::unique_ptr<SQLite::Database> reader)
    : cfg_(std::move(cfg)),
      wdb_(std::move(writer)),
      w_(std::make_unique<WriteStatements>(*wdb_)),
      rdb_(std::move(reader)),
      r_(std::make_unique<StatementCache>(*rdb_)),
      checkpointer_(std::make_unique<Checkpointer>(cfg_.path, cfg_.synchronous_full, cfg_.busy_timeout_ms, *wdb_)) {}

Status SqliteStorage::commit(sdk::WriteBatch& batch) noexcept {
  if (Status st = storage_common::validate_batch(batch, "storage-sqlite"); !st.ok()) return st;
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
