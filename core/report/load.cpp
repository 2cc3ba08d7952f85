// Reading one window's cohort out of storage, and the cursor paging (report/paging.hpp) the
// streamed report shares. Every list call is paged with its cursor.
#include "report/paging.hpp"
#include "report/report.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

namespace hitl::report {

namespace {

[[noreturn]] void fail(const std::string& call, const sdk::Status& st) {
  throw std::runtime_error("report: " + call + " failed: " + st.message);
}

}  // namespace

namespace detail {

sdk::DecisionFilter window_filter(const std::string& domain, Window w, bool with_payload, std::size_t page_size) {
  sdk::DecisionFilter df;
  df.domain = domain;
  df.from_ms = w.from_ms;
  df.to_ms = w.to_ms;
  df.with_payload = with_payload;
  df.limit = page_size;
  return df;
}

void each_decision(sdk::Storage& storage, sdk::DecisionFilter df, const std::function<void(sdk::DecisionRecord&)>& fn) {
  std::vector<sdk::DecisionRecord> page;
  for (;;) {
    page.clear();
    if (auto st = storage.list_decisions(df, page); !st.ok())
      fail("list_decisions (domain " + df.domain + ", after " + std::to_string(df.after_created_ms) + "/" + df.after_id + ")", st);
    if (page.empty()) return;
    const auto& last = page.back();
    if (!(last.created_ms > df.after_created_ms || (last.created_ms == df.after_created_ms && last.id > df.after_id)))
      throw std::runtime_error("report: list_decisions returned a page that does not move past its cursor");
    df.after_created_ms = last.created_ms;
    df.after_id = last.id;
    for (auto& d : page) fn(d);
  }
}

void each_task(sdk::Storage& storage, sdk::TaskFilter tf, std::int64_t max_id,
               const std::function<void(sdk::TaskRecord&)>& fn) {
  std::vector<sdk::TaskRecord> page;
  while (tf.after_task_id < max_id) {
    page.clear();
    if (auto st = storage.list_tasks(tf, page); !st.ok())
      fail("list_tasks (domain " + tf.domain + ", after task " + std::to_string(tf.after_task_id) + ")", st);
    if (page.empty()) return;
    if (page.back().task_id <= tf.after_task_id)
      throw std::runtime_error("report: list_tasks returned a page that does not move past its cursor");
    tf.after_task_id = page.back().task_id;
    for (auto& t : page) fn(t);
  }
}

void each_review(sdk::Storage& storage, sdk::ReviewFilter rf, const std::function<void(sdk::ReviewRecord&)>& fn) {
  std::vector<sdk::ReviewRecord> page;
  for (;;) {
    page.clear();
    if (auto st = storage.list_reviews(rf, page); !st.ok())
      fail("list_reviews (domain " + rf.domain + ", after review " + std::to_string(rf.after_review_id) + ")", st);
    if (page.empty()) return;
    if (page.back().review_id <= rf.after_review_id)
      throw std::runtime_error("report: list_reviews returned a page that does not move past its cursor");
    rf.after_review_id = page.back().review_id;
    for (auto& r : page) fn(r);
  }
}

}  // namespace detail

std::optional<Window> default_baseline(Window w, std::int64_t now_ms) {
  const std::int64_t to = w.to_ms != 0 ? w.to_ms : now_ms;
  if (w.from_ms == 0 || to <= w.from_ms) return std::nullopt;
  const std::int64_t len = to - w.from_ms;
  // A baseline reaching before the epoch is simply unbounded below (no record is older).
  return Window{std::max<std::int64_t>(w.from_ms - len, 0), w.from_ms};
}

Facts load_facts(sdk::Storage& storage, const std::string& domain, Window w, bool with_payload,
                 std::size_t page_size) {
  if (page_size == 0) throw std::invalid_argument("report: page_size must be at least 1");
  Facts facts;

  // 1. Decisions created in the window, in (created_ms, id) order.
  detail::each_decision(storage, detail::window_filter(domain, w, with_payload, page_size), [&](sdk::DecisionRecord& d) { facts.decisions.push_back(std::move(d)); });

  // 2. Their tasks. A task is written with its decision, so its id is on the decision; reading
  // the id range by cursor does not depend on the task's own timestamps.
  std::unordered_set<std::int64_t> task_ids;
  std::int64_t min_id = 0, max_id = 0;
  for (const auto& d : facts.decisions)
    if (d.task_id > 0) {
      task_ids.insert(d.task_id);
      min_id = min_id == 0 ? d.task_id : std::min(min_id, d.task_id);
      max_id = std::max(max_id, d.task_id);
    }
  if (task_ids.empty()) return facts;
  sdk::TaskFilter tf;
  tf.domain = domain;
  tf.after_task_id = min_id - 1;
  tf.limit = page_size;
  detail::each_task(storage, tf, max_id, [&](sdk::TaskRecord& t) {
    if (task_ids.count(t.task_id)) facts.tasks.push_back(std::move(t));
  });

  // Gold tasks (quality control, dataset/gold.hpp) are not the domain's traffic: their decisions,
  // tasks and reviews are left out of every figure.
  std::unordered_set<std::int64_t> gold;
  for (const auto& t : facts.tasks)
    if (t.gold) gold.insert(t.task_id);
  if (!gold.empty()) {
    std::erase_if(facts.tasks, [&](const sdk::TaskRecord& t) { return gold.count(t.task_id) > 0; });
    std::erase_if(facts.decisions, [&](const sdk::DecisionRecord& d) { return gold.count(d.task_id) > 0; });
    for (auto id : gold) task_ids.erase(id);
  }

  // 3. Their reviews. A review is submitted after its task was created, so none is older than
  // the window's start; newer reviews of other decisions are skipped.
  sdk::ReviewFilter rf;
  rf.domain = domain;
  rf.from_ms = w.from_ms;
  rf.limit = page_size;
  detail::each_review(storage, rf, [&](sdk::ReviewRecord& r) {
    if (task_ids.count(r.task_id)) facts.reviews.push_back(std::move(r));
  });
  return facts;
}

}  // namespace hitl::report
