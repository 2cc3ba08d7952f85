#include "ingest/task_push.hpp"

#include "metrics/metrics.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace hitl::service {

TaskPush::TaskPush(sdk::Queue& queue, Metrics& metrics, std::string queue_plugin)
    : queue_(&queue), metrics_(&metrics), queue_plugin_(std::move(queue_plugin)) {}

void TaskPush::operator()(sdk::WriteBatch& committed) const {
  std::vector<sdk::QueueItem> items;
  for (auto& nd : committed.decisions)
    if (nd.task && !nd.duplicate && nd.task->task_id)
      items.push_back({nd.task->task_id, nd.task->domain, nd.task->priority, nd.task->deadline_ms, nd.task->created_ms});
  if (items.empty()) return;
  auto st = queue_->push(items);
  if (!st.ok()) {
    metrics_->plugin_error("queue", queue_plugin_);
    spdlog::error("queue push of {} tasks failed: {}", items.size(), st.message);
  }
}

}  // namespace hitl::service
