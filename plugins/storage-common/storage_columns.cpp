#include "storage_columns.hpp"

namespace hitl::storage_common {

const TableSpec<sdk::DecisionRecord>& decisions_table() {
  using D = sdk::DecisionRecord;
  static const TableSpec<sdk::DecisionRecord> spec{"decisions", RowKey::given, {
    {"domain", &D::domain}, {"id", &D::id}, {"status", &D::status}, {"reason", &D::reason},
    {"task_id", &D::task_id}, {"priority", &D::priority}, {"label", &D::label}, {"confidence", &D::confidence},
    {"input_json", &D::input_json, true}, {"prediction_json", &D::prediction_json, true},
    {"meta_json", &D::meta_json, true}, {"model_version", &D::model_version}, {"policy_hash", &D::policy_hash},
    {"created_ms", &D::created_ms}, {"final_label", &D::final_label}, {"final_outcome", &D::final_outcome},
    {"final_ms", &D::final_ms}, {"input_hash", &D::input_hash}, {"erased_ms", &D::erased_ms},
    {"truth_label", &D::truth_label}, {"truth_ms", &D::truth_ms}}};
  return spec;
}

const TableSpec<sdk::TaskRecord>& tasks_table() {
  using T = sdk::TaskRecord;
  static const TableSpec<sdk::TaskRecord> spec{"tasks", RowKey::generated, {
    {"task_id", &T::task_id}, {"domain", &T::domain}, {"decision_id", &T::decision_id}, {"status", &T::status},
    {"priority", &T::priority}, {"reason", &T::reason}, {"assignee", &T::assignee},
    {"lease_expires_ms", &T::lease_expires_ms}, {"deadline_ms", &T::deadline_ms}, {"created_ms", &T::created_ms},
    {"updated_ms", &T::updated_ms}, {"skills", &T::skills}, {"pool", &T::pool},
    {"reviews_required", &T::reviews_required}, {"reviews_done", &T::reviews_done}, {"gold", &T::gold},
    {"gold_label", &T::gold_label}, {"sla_state", &T::sla_state}, {"escalations", &T::escalations},
    {"preassigned", &T::preassigned}, {"origin", &T::origin}}};
  return spec;
}

const TableSpec<sdk::ReviewRecord>& reviews_table() {
  using R = sdk::ReviewRecord;
  static const TableSpec<sdk::ReviewRecord> spec{"reviews", RowKey::generated, {
    {"review_id", &R::review_id}, {"task_id", &R::task_id}, {"domain", &R::domain},
    {"decision_id", &R::decision_id}, {"reviewer", &R::reviewer}, {"outcome", &R::outcome},
    {"final_label", &R::final_label}, {"comment", &R::comment}, {"created_ms", &R::created_ms},
    {"started_ms", &R::started_ms}}};
  return spec;
}

const TableSpec<sdk::FeedbackRecord>& feedback_table() {
  using F = sdk::FeedbackRecord;
  static const TableSpec<sdk::FeedbackRecord> spec{"feedback", RowKey::given, {
    {"domain", &F::domain}, {"decision_id", &F::decision_id}, {"input_json", &F::input_json},
    {"final_label", &F::final_label}, {"model_label", &F::model_label}, {"model_confidence", &F::model_confidence},
    {"outcome", &F::outcome}, {"reviewer", &F::reviewer}, {"created_ms", &F::created_ms}}};
  return spec;
}

const TableSpec<sdk::ReviewerRecord>& reviewers_table() {
  using V = sdk::ReviewerRecord;
  static const TableSpec<sdk::ReviewerRecord> spec{"reviewers", RowKey::given, {
    {"id", &V::id}, {"name", &V::name}, {"roles", &V::roles}, {"domains", &V::domains}, {"skills", &V::skills},
    {"capacity", &V::capacity}, {"cost_per_hour", &V::cost_per_hour}, {"disabled", &V::disabled},
    {"created_ms", &V::created_ms}, {"updated_ms", &V::updated_ms}}};
  return spec;
}

const TableSpec<sdk::DeliveryRecord>& deliveries_table() {
  using W = sdk::DeliveryRecord;
  static const TableSpec<sdk::DeliveryRecord> spec{"deliveries", RowKey::generated, {
    {"delivery_id", &W::delivery_id}, {"domain", &W::domain}, {"decision_id", &W::decision_id},
    {"event", &W::event}, {"url", &W::url}, {"payload_json", &W::payload_json}, {"status", &W::status},
    {"attempts", &W::attempts}, {"next_attempt_ms", &W::next_attempt_ms}, {"last_error", &W::last_error},
    {"created_ms", &W::created_ms}, {"delivered_ms", &W::delivered_ms}}};
  return spec;
}

// seq is the table's key, but storage assigns it itself (the chain hashes it).
const TableSpec<sdk::AuditRecord>& audit_table() {
  using A = sdk::AuditRecord;
  static const TableSpec<sdk::AuditRecord> spec{"audit", RowKey::given, {
    {"seq", &A::seq}, {"ts_ms", &A::ts_ms}, {"actor", &A::actor}, {"action", &A::action}, {"domain", &A::domain},
    {"entity", &A::entity}, {"entity_id", &A::entity_id}, {"detail_json", &A::detail_json},
    {"prev_hash", &A::prev_hash}, {"hash", &A::hash}}};
  return spec;
}

const TableSpec<sdk::TokenRecord>& tokens_table() {
  using K = sdk::TokenRecord;
  static const TableSpec<sdk::TokenRecord> spec{"tokens", RowKey::given, {
    {"name", &K::name}, {"role", &K::role}, {"domains", &K::domains}, {"hash", &K::hash},
    {"created_ms", &K::created_ms}, {"revoked", &K::revoked}}};
  return spec;
}

}  // namespace hitl::storage_common
