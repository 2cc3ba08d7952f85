#include "tables.hpp"

namespace hitl::storage_sqlite {

// The columns are storage-common's, shared with storage-postgres.
const Table<sdk::DecisionRecord> kDecisions{storage_common::decisions_table()};
const Table<sdk::TaskRecord> kTasks{storage_common::tasks_table()};
const Table<sdk::ReviewRecord> kReviews{storage_common::reviews_table()};
const Table<sdk::FeedbackRecord> kFeedback{storage_common::feedback_table()};
const Table<sdk::ReviewerRecord> kReviewers{storage_common::reviewers_table()};
const Table<sdk::DeliveryRecord> kDeliveries{storage_common::deliveries_table()};
const Table<sdk::AuditRecord> kAudit{storage_common::audit_table()};
const Table<sdk::TokenRecord> kTokens{storage_common::tokens_table()};

}  // namespace hitl::storage_sqlite
