#pragma once
// Review workflow: claim the next task (queue lease + storage transition), submit an outcome
// (lease ack + review + feedback + final label + audit in one transaction), expire leases.
#include <hitl/plugin_api.hpp>

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <optional>
#include <string>

namespace hitl::service {

class Pipeline;
class Writer;
class Metrics;
struct Principal;

struct ClaimedTask {
  sdk::TaskRecord task;
  sdk::DecisionRecord decision;
};

struct OutcomeRequest {
  std::int64_t task_id = 0;
  std::string outcome;           // approve | reject | correct
  std::string correction_label;  // required for correct
  std::string comment;
};

struct OutcomeResult {
  std::int64_t task_id = 0;
  std::string domain;
  std::string decision_id;
  std::string outcome;
  std::string final_label;
};

class ReviewService {
 public:
  ReviewService(sdk::Storage& storage, sdk::Queue& queue, Writer& writer, const Pipeline& pipeline,
                Metrics& metrics);

  // Claims the best ready task of `domain` for the reviewer, or nullopt. Throws ServiceError.
  std::optional<ClaimedTask> next(const std::string& domain, const Principal& reviewer);
  // Throws ServiceError: 404 unknown task, 403 out of scope, 409 lease not held / completed,
  // 422 bad outcome or label.
  OutcomeResult submit(const OutcomeRequest& req, const Principal& reviewer);
  // Returns expired leases to the queue and the tasks to pending; returns how many.
  std::size_t expire_leases();
  // After a restart: pushes every open task to the queue again (push is idempotent).
  std::size_t requeue_open_tasks();

 private:
  sdk::Storage& storage_;
  sdk::Queue& queue_;
  Writer& writer_;
  const Pipeline& pipeline_;
  Metrics& metrics_;
};

}  // namespace hitl::service
