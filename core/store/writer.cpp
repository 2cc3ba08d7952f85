#include "store/writer.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <future>
#include <vector>

namespace hitl::service {

Writer::Writer(std::shared_ptr<sdk::Storage> storage, std::size_t max_batch_rows, AfterCommit after)
    : storage_(std::move(storage)), max_batch_rows_(max_batch_rows), after_(std::move(after)) {
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Writer::submit(sdk::WriteBatch batch, Done done) {
  {
    std::lock_guard lock(mu_);
    pending_.push_back(Item{std::move(batch), std::move(done)});
  }
  submissions_++;
  cv_.notify_one();
}

void Writer::post(Step step) {
  {
    std::lock_guard lock(mu_);
    steps_.push_back(std::move(step));
  }
  cv_.notify_one();
}

namespace {
sdk::Status waits_for_itself() {
  return sdk::Status::Error(sdk::Code::internal, "a synchronous write on the writer thread would wait for itself");
}
}  // namespace

sdk::Status Writer::submit_sync(sdk::WriteBatch& batch) {
  if (on_writer_thread()) return waits_for_itself();
  std::promise<sdk::Status> done;
  auto fut = done.get_future();
  submit(std::move(batch), [&](const sdk::Status& st, sdk::WriteBatch& committed) {
    batch = std::move(committed);
    done.set_value(st);
  });
  return fut.get();
}

sdk::Status Writer::call_sync(Call call) {
  if (on_writer_thread()) return waits_for_itself();
  std::promise<sdk::Status> done;
  auto fut = done.get_future();
  {
    std::lock_guard lock(mu_);
    pending_.push_back(Item{{}, [&](const sdk::Status& st, sdk::WriteBatch&) { done.set_value(st); }, std::move(call)});
  }
  submissions_++;
  cv_.notify_one();
  return fut.get();
}

// The steps waiting now, in order, outside the lock (they submit).
void Writer::run_steps(std::unique_lock<std::mutex>& lock) {
  std::deque<Step> steps;
  steps.swap(steps_);
  lock.unlock();
  for (auto& step : steps) {
    try {
      step();
    } catch (const std::exception& e) {  // the writer thread must outlive a faulty step
      spdlog::error("writer step failed: {}", e.what());
    } catch (...) {
      spdlog::error("writer step failed: an exception that is not a std::exception");
    }
  }
  lock.lock();
}

void Writer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty() || !steps_.empty(); });
    // Steps first, so that what they submit is merged into the group taken next.
    if (!steps_.empty()) run_steps(lock);
    if (pending_.empty()) {
      if (stopping_ && steps_.empty()) return;
      continue;
    }
    // Take what is waiting, up to max_batch_rows (always at least one submission).
    std::deque<Item> group;
    std::size_t total = 0;
    // A call runs alone: it ends the group before it, or is the whole group.
    while (!pending_.empty() && (group.empty() || (!pending_.front().call &&
                                                   total + sdk::row_count(pending_.front().batch) <= max_batch_rows_))) {
      total += sdk::row_count(pending_.front().batch);
      group.push_back(std::move(pending_.front()));
      pending_.pop_front();
      if (group.back().call) break;
    }
    lock.unlock();
    commit_group(group);
    lock.lock();
  }
}

// One submission alone: its own transaction, answered with its own outcome.
void Writer::commit_alone(Item& item) {
  if (item.call) {
    sdk::Status st;
    try {
      st = item.call(*storage_);
    } catch (const std::exception& e) {  // the writer thread must outlive a faulty call
      st = sdk::Status::Error(sdk::Code::internal, e.what());
    }
    item.done(st, item.batch);
    return;
  }
  auto st = storage_->commit(item.batch);
  commits_++;
  if (st.ok() && after_) after_(item.batch);
  if (!st.ok()) spdlog::error("storage commit failed: {}", st.message);
  item.done(st, item.batch);
}

// Moves every submission's rows into one batch; `starts` receives where each one's rows begin.
sdk::WriteBatch Writer::merge(std::deque<Item>& group, std::vector<Offsets>& starts) {
  sdk::WriteBatch merged;
  starts.reserve(group.size());
  for (auto& item : group) {
    Offsets& at = starts.emplace_back();
    std::size_t p = 0;
    sdk::for_each_part([&](auto part) { at[p++] = (merged.*part).size(); });
    sdk::append(merged, std::move(item.batch));
  }
  return merged;
}

// Gives each submission its rows back from the merged batch (with what storage filled in).
void Writer::split(std::deque<Item>& group, sdk::WriteBatch& merged, const std::vector<Offsets>& starts) {
  for (std::size_t i = 0; i < group.size(); ++i) {
    std::size_t p = 0;
    sdk::for_each_part([&](auto part) {
      auto& from = merged.*part;
      const auto begin = starts[i][p];
      const auto end = i + 1 < starts.size() ? starts[i + 1][p] : from.size();
      (group[i].batch.*part).assign(std::make_move_iterator(from.begin() + begin), std::make_move_iterator(from.begin() + end));
      ++p;
    });
  }
}

// Clears what a rolled-back attempt filled in, so the retry's answer is its own.
void Writer::forget_outputs(sdk::WriteBatch& batch) {
  for (auto& d : batch.decisions) {
    if (d.duplicate) continue;  // already holds the stored original: same answer again
    d.decision.task_id = 0;
    if (d.task) d.task->task_id = 0;
  }
  for (auto& u : batch.task_updates) u.applied = false;
  for (auto& d : batch.deliveries) d.delivery_id = 0;
}

void Writer::commit_group(std::deque<Item>& group) {
  if (group.size() == 1) return commit_alone(group.front());
  std::vector<Offsets> starts;
  auto merged = merge(group, starts);
  auto st = storage_->commit(merged);
  commits_++;
  if (st.ok() && after_) after_(merged);
  split(group, merged, starts);
  if (st.ok()) {
    for (auto& item : group) item.done(st, item.batch);
    return;
  }
  // The merged transaction failed and rolled back: commit each submission on its own so one bad
  // submission cannot fail the others.
  spdlog::warn("group commit of {} submissions failed ({}); retrying one by one", group.size(), st.message);
  for (auto& item : group) {
    forget_outputs(item.batch);
    commit_alone(item);
  }
}

}  // namespace hitl::service
