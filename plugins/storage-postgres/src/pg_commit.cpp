// commit(): one write batch in one transaction on the writer connection, all or nothing; the
// reply comes only after the server acknowledged the COMMIT.
#include "pg_storage.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_postgres {

using sdk::Code;
using sdk::Status;
using storage_common::each;

Status PgStorage::commit(sdk::WriteBatch& batch) noexcept { return commit_with(batch, nullptr); }

Status PgStorage::commit_with(sdk::WriteBatch& batch, const std::vector<sdk::TokenExpiry>* expiries) noexcept {
  if (Status st = storage_common::validate_batch(batch, kPlugin); !st.ok()) return st;
  if (batch.empty() && (!expiries || expiries->empty())) return Status::Ok();
  std::lock_guard lock(write_mu_);
  const char* stage = "connecting";
  std::size_t index = 0;
  const auto failed = [&](Code code, const char* what) {
    const std::string row = index == kWholeKind ? "" : " " + std::to_string(index) + " of the batch";
    return Status::Error(code, std::string(kPlugin) + ": commit failed while " + stage + row + " (rolled back): " + what);
  };
  try {
    // A connection lost on an earlier batch is opened afresh (a server restart, a failover).
    if (!writer_ || !writer_->usable())
      writer_ = std::make_unique<pg::Session>(cfg_.url, cfg_.statement_timeout_ms, cfg_.connect_timeout_s);
    pending_head_.reset();
    stage = "beginning the transaction";
    pqxx::work w(writer_->conn());
    Tx tx{*writer_, w};
    if (expiries) write_expiries(tx, *expiries);
    apply(tx, batch, stage, index);
    stage = "committing";
    index = 0;
    w.commit();
    if (pending_head_) committed_head_ = std::move(pending_head_);
    return Status::Ok();
  } catch (const pqxx::in_doubt_error& e) {
    if (writer_) writer_->mark_broken();
    committed_head_.reset();  // stored or not: the next append reads the head
    return Status::Error(Code::unavailable, std::string(kPlugin) + ": the connection broke during COMMIT; the batch "
                                                "may or may not be stored (retrying is safe for idempotent ids): " + e.what());
  } catch (const pqxx::broken_connection& e) {
    if (writer_) writer_->mark_broken();
    return failed(Code::unavailable, e.what());
  } catch (const pqxx::failure& e) {
    return failed(pg::code_for(e), e.what());
  } catch (const pg::BadParameter& e) {
    return failed(Code::invalid_argument, e.what());
  } catch (const BatchError& e) {
    return Status::Error(e.code, std::string(kPlugin) + ": commit failed (rolled back): " + e.message);
  } catch (const std::exception& e) {
    return failed(Code::internal, e.what());
  }
}

// Applies every part of a batch inside the caller's transaction, in storage-sqlite's order (the
// lifecycle trigger sees the moves before the patches); `stage` and `index` name the record
// being written when one fails, or the kind (index kWholeKind) when its rows went in one statement.
void PgStorage::apply(Tx& tx, sdk::WriteBatch& b, const char*& stage, std::size_t& index) {
  stage = "inserting decisions";
  index = 0;
  insert_decisions(tx, b.decisions);
  write_review_path(tx, b, stage, index);  // task moves, then reviews
  stage = "inserting feedback";
  index = 0;
  insert_feedback(tx, b.feedback);
  write_outcomes(tx, b, stage, index);  // finals, then task patches (after the moves they follow)
  each(b.reviewers, "storing reviewer", stage, index, [&](const sdk::ReviewerRecord& r) { write_reviewer(tx, r); });
  write_deliveries(tx, b.deliveries, stage, index);
  each(b.delivery_updates, "updating delivery", stage, index,
       [&](const sdk::DeliveryUpdate& u) { write_delivery_update(tx, u); });
  each(b.erasures, "erasing payload", stage, index, [&](sdk::PayloadErasure& e) { write_erasure(tx, e); });
  each(b.truths, "recording ground truth", stage, index, [&](const sdk::GroundTruth& t) { write_truth(tx, t); });
  each(b.tokens, "storing token", stage, index, [&](const sdk::TokenRecord& t) { write_token(tx, t); });
  stage = "appending audit record";
  append_audit(tx, b, index);
}

}  // namespace hitl::storage_postgres
