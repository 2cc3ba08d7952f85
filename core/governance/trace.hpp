#pragma once
// Decision provenance: everything the service knows about how one decision came about (model,
// policy, review task, reviews, final outcome and the audit records about it), as served by
// GET /v1/domains/{d}/decisions/{id}/trace.
#include <hitl/plugin_api.hpp>

#include <nlohmann/json_fwd.hpp>

namespace hitl::service {

// Builds the trace of `decision` (already read from `storage`); `decision_json` is the object
// GET .../decisions/{id} returns for it, embedded as is. Reads the task, its reviews and the
// audit trail; throws ServiceError(503, "storage_unavailable") when storage cannot be read.
//
// `for_reviewer`: the trace is read by someone who may review the case. Reviews are blind, so
// while the task is open (another reviewer may still answer it) its reviews and audit records
// are left out and the trace says "blind": true. A gold task's trace stays blind for good: its
// records name the known answer, and reviewers must not learn the golden set from them.
nlohmann::json build_trace(sdk::Storage& storage, const sdk::DecisionRecord& decision,
                           nlohmann::json decision_json, bool for_reviewer = false);

}  // namespace hitl::service
