// The tables storage-sqlite reads and writes whole records of (schema.cpp creates them).
#pragma once

#include "row_codec.hpp"

#include <hitl/plugin_api.hpp>

namespace hitl::storage_sqlite {

extern const Table<sdk::DecisionRecord> kDecisions;
extern const Table<sdk::TaskRecord> kTasks;
extern const Table<sdk::ReviewRecord> kReviews;
extern const Table<sdk::FeedbackRecord> kFeedback;
extern const Table<sdk::ReviewerRecord> kReviewers;
extern const Table<sdk::DeliveryRecord> kDeliveries;
extern const Table<sdk::AuditRecord> kAudit;
extern const Table<sdk::TokenRecord> kTokens;

}  // namespace hitl::storage_sqlite
