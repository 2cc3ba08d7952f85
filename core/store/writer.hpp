#pragma once
// The single writer: every change to storage goes through one thread that merges concurrent
// submissions into one transaction (group commit). Callers are answered after the commit.
#include <hitl/plugin_api.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace hitl::service {

class Writer {
 public:
  // Runs on the writer thread after the storage commit, with the merged batch (e.g. to push the
  // new review tasks to the queue in one call). Not called when the commit failed.
  using AfterCommit = std::function<void(sdk::WriteBatch& merged)>;
  // Runs on the writer thread once the submission is committed (or failed); keep it short.
  using Done = std::function<void(const sdk::Status&, sdk::WriteBatch&)>;

  Writer(std::shared_ptr<sdk::Storage> storage, std::size_t max_batch_rows, AfterCommit after = {});
  ~Writer();  // commits what was submitted, then stops
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void submit(sdk::WriteBatch batch, Done done);
  sdk::Status submit_sync(sdk::WriteBatch& batch);  // blocks until committed
  // Runs `call` on the writer thread, alone (between two group commits), and returns its Status:
  // for the storage writes that are not a WriteBatch (storage 1.1's token calls).
  using Call = std::function<sdk::Status(sdk::Storage&)>;
  sdk::Status call_sync(Call call);

  // Runs `step` on the writer thread before it takes its next group, with every other step
  // waiting, in order; what a step submit()s joins that group. For work that must not run on an
  // I/O thread and writes to the same database: the review queue's claim and ack (issue 19) run
  // here between two commits instead of waiting on another connection for the write lock. A step
  // must not block: it submit()s and is answered in the Done callback (submit_sync and call_sync
  // on the writer thread fail instead of waiting for themselves). It must not throw (a throw is
  // logged and dropped).
  using Step = std::function<void()>;
  void post(Step step);
  bool on_writer_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  std::uint64_t commits() const { return commits_.load(); }
  std::uint64_t submissions() const { return submissions_.load(); }

 private:
  struct Item {
    sdk::WriteBatch batch;
    Done done;
    Call call;  // set: run alone instead of committing `batch`
  };
  void run();
  void run_steps(std::unique_lock<std::mutex>& lock);
  // Where one submission's rows start inside the merged batch, per part (kWriteBatchParts order).
  using Offsets = std::array<std::size_t, sdk::kWriteBatchPartCount>;
  void commit_group(std::deque<Item>& group);
  void commit_alone(Item& item);
  static sdk::WriteBatch merge(std::deque<Item>& group, std::vector<Offsets>& starts);
  static void split(std::deque<Item>& group, sdk::WriteBatch& merged, const std::vector<Offsets>& starts);
  static void forget_outputs(sdk::WriteBatch& batch);

  std::shared_ptr<sdk::Storage> storage_;
  std::size_t max_batch_rows_;
  AfterCommit after_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> pending_;
  std::deque<Step> steps_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> commits_{0}, submissions_{0};
  std::thread thread_;
};

}  // namespace hitl::service
