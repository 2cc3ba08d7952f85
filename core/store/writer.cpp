#include "store/writer.hpp"

#include <spdlog/spdlog.h>

#include <future>

namespace hitl::service {
namespace {

std::size_t rows(const sdk::WriteBatch& b) {
  return b.decisions.size() + b.task_updates.size() + b.reviews.size() + b.feedback.size() +
         b.finals.size() + b.tokens.size() + b.erasures.size() + b.truths.size() + b.task_patches.size() + b.reviewers.size() + b.deliveries.size() +
         b.delivery_updates.size() + b.audit.size();
}

// Offsets of one submission's rows inside the merged batch, per vector.
struct Span {
  std::size_t decisions, task_updates, reviews, feedback, finals, tokens, erasures, truths, task_patches, reviewers, deliveries,
      delivery_updates, audit;
};

template <class T>
void append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

template <class T>
void take_back(std::vector<T>& into, std::vector<T>& merged, std::size_t offset) {
  for (std::size_t i = 0; i < into.size(); ++i) into[i] = std::move(merged[offset + i]);
}

}  // namespace

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

sdk::Status Writer::submit_sync(sdk::WriteBatch& batch) {
  std::promise<sdk::Status> done;
  auto fut = done.get_future();
  submit(std::move(batch), [&](const sdk::Status& st, sdk::WriteBatch& committed) {
    batch = std::move(committed);
    done.set_value(st);
  });
  return fut.get();
}

void Writer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty() && stopping_) return;
    // Take what is waiting, up to max_batch_rows (always at least one submission).
    std::deque<Item> group;
    std::size_t total = 0;
    while (!pending_.empty() && (group.empty() || total + rows(pending_.front().batch) <= max_batch_rows_)) {
      total += rows(pending_.front().batch);
      group.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    lock.unlock();
    commit_group(group);
    lock.lock();
  }
}

void Writer::commit_group(std::deque<Item>& group) {
  if (group.size() == 1) {
    auto st = storage_->commit(group.front().batch);
    commits_++;
    if (st.ok() && after_) after_(group.front().batch);
    if (!st.ok()) spdlog::error("storage commit failed: {}", st.message);
    group.front().done(st, group.front().batch);
    return;
  }
  sdk::WriteBatch merged;
  std::vector<Span> spans;
  spans.reserve(group.size());
  for (auto& item : group) {
    auto& b = item.batch;
    spans.push_back({merged.decisions.size(), merged.task_updates.size(), merged.reviews.size(),
                     merged.feedback.size(), merged.finals.size(), merged.tokens.size(),
                     merged.erasures.size(), merged.truths.size(), merged.task_patches.size(), merged.reviewers.size(), merged.deliveries.size(),
                     merged.delivery_updates.size(), merged.audit.size()});
    append(merged.decisions, b.decisions);
    append(merged.task_updates, b.task_updates);
    append(merged.reviews, b.reviews);
    append(merged.feedback, b.feedback);
    append(merged.finals, b.finals);
    append(merged.tokens, b.tokens);
    append(merged.erasures, b.erasures);
    append(merged.truths, b.truths);
    append(merged.task_patches, b.task_patches);
    append(merged.reviewers, b.reviewers);
    append(merged.deliveries, b.deliveries);
    append(merged.delivery_updates, b.delivery_updates);
    append(merged.audit, b.audit);
  }
  auto st = storage_->commit(merged);
  commits_++;
  if (st.ok()) {
    if (after_) after_(merged);
    for (std::size_t i = 0; i < group.size(); ++i) {
      auto& b = group[i].batch;
      auto& s = spans[i];
      take_back(b.decisions, merged.decisions, s.decisions);
      take_back(b.task_updates, merged.task_updates, s.task_updates);
      take_back(b.reviews, merged.reviews, s.reviews);
      take_back(b.feedback, merged.feedback, s.feedback);
      take_back(b.finals, merged.finals, s.finals);
      take_back(b.tokens, merged.tokens, s.tokens);
      take_back(b.erasures, merged.erasures, s.erasures);
      take_back(b.truths, merged.truths, s.truths);
      take_back(b.task_patches, merged.task_patches, s.task_patches);
      take_back(b.reviewers, merged.reviewers, s.reviewers);
      take_back(b.deliveries, merged.deliveries, s.deliveries);  // delivery_id filled in by storage
      take_back(b.delivery_updates, merged.delivery_updates, s.delivery_updates);
      take_back(b.audit, merged.audit, s.audit);
      group[i].done(st, b);
    }
    return;
  }
  // The merged transaction failed and rolled back: commit each submission on its own so one bad
  // submission cannot fail the others. (The vectors were moved out; move them back first.)
  spdlog::warn("group commit of {} submissions failed ({}); retrying one by one", group.size(), st.message);
  for (std::size_t i = 0; i < group.size(); ++i) {
    auto& b = group[i].batch;
    auto& s = spans[i];
    auto restore = [&](auto& into, auto& from, std::size_t off, std::size_t end) {
      into.assign(std::make_move_iterator(from.begin() + off), std::make_move_iterator(from.begin() + end));
    };
    auto end_of = [&](auto member_off, auto& vec) {
      return i + 1 < spans.size() ? spans[i + 1].*member_off : vec.size();
    };
    restore(b.decisions, merged.decisions, s.decisions, end_of(&Span::decisions, merged.decisions));
    restore(b.task_updates, merged.task_updates, s.task_updates, end_of(&Span::task_updates, merged.task_updates));
    restore(b.reviews, merged.reviews, s.reviews, end_of(&Span::reviews, merged.reviews));
    restore(b.feedback, merged.feedback, s.feedback, end_of(&Span::feedback, merged.feedback));
    restore(b.finals, merged.finals, s.finals, end_of(&Span::finals, merged.finals));
    restore(b.tokens, merged.tokens, s.tokens, end_of(&Span::tokens, merged.tokens));
    restore(b.erasures, merged.erasures, s.erasures, end_of(&Span::erasures, merged.erasures));
    restore(b.truths, merged.truths, s.truths, end_of(&Span::truths, merged.truths));
    restore(b.task_patches, merged.task_patches, s.task_patches, end_of(&Span::task_patches, merged.task_patches));
    restore(b.reviewers, merged.reviewers, s.reviewers, end_of(&Span::reviewers, merged.reviewers));
    restore(b.deliveries, merged.deliveries, s.deliveries, end_of(&Span::deliveries, merged.deliveries));
    restore(b.delivery_updates, merged.delivery_updates, s.delivery_updates,
            end_of(&Span::delivery_updates, merged.delivery_updates));
    restore(b.audit, merged.audit, s.audit, end_of(&Span::audit, merged.audit));
  }
  for (auto& item : group) {
    for (auto& d : item.batch.decisions) {  // forget outputs of the rolled-back attempt
      if (d.duplicate) continue;            // already holds the stored original: same answer again
      d.decision.task_id = 0;
      if (d.task) d.task->task_id = 0;
    }
    for (auto& u : item.batch.task_updates) u.applied = false;
    for (auto& d : item.batch.deliveries) d.delivery_id = 0;
    auto one = storage_->commit(item.batch);
    commits_++;
    if (one.ok() && after_) after_(item.batch);
    item.done(one, item.batch);
  }
}

}  // namespace hitl::service
