#pragma once
// Start-up recovery of `hitl serve`, before the server answers (its cost is bounded by the
// leases held, not by the backlog; re-queueing every open task runs later, in the background,
// see app/housekeeping.hpp).
namespace hitl::service {

class App;

// 1. Logs the audit chain head: keep this line somewhere else too, a chain rewritten or truncated
//    from some record on is only visible against a head recorded before (docs/operations.md,
//    "Audit log").
// 2. Audits the start with what changed since the last one (config file, policies).
// 3. Makes the queue's leases agree with storage before the first claim
//    (ReviewService::reconcile_leases).
void recover_at_start(App& app);

// Step 2 alone: "service.started" with the config's and each policy's hash; logs each change.
void record_start(App& app);

}  // namespace hitl::service
