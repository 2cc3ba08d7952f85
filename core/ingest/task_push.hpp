#pragma once
// The last step of ingest, after the commit: the review tasks a group commit stored go to the
// queue in one push. The writer runs it (Writer::AfterCommit) on its thread once per group
// commit, so concurrent ingest requests share one push.
#include <hitl/plugin_api.hpp>

#include <string>

namespace hitl::service {

class Metrics;

class TaskPush {
 public:
  // `queue_plugin` names the plugin in the error counter. Both references outlive the writer.
  TaskPush(sdk::Queue& queue, Metrics& metrics, std::string queue_plugin);
  // Pushes every new review task of `committed` (not the repeated ids storage answered). A failed
  // push loses nothing: the tasks are in storage and requeue_open_tasks() pushes them at the
  // next start; it is logged and counted as a queue plugin error.
  void operator()(sdk::WriteBatch& committed) const;

 private:
  sdk::Queue* queue_;
  Metrics* metrics_;
  std::string queue_plugin_;
};

}  // namespace hitl::service
