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
nlohmann::json build_trace(sdk::Storage& storage, const sdk::DecisionRecord& decision,
                           nlohmann::json decision_json);

}  // namespace hitl::service
