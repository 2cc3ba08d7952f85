// Reading one window's cohort out of storage. Every list call is paged with its cursor, so a
// window of any size is read in bounded memory per call. Paging stops at an empty page, not at a
// short one, because a plugin may cap `limit` below what was asked; a cursor that does not move
// forward is reported instead of looping forever on a misbehaving plugin.
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
  std::vector<sdk::DecisionRecord> page;
  sdk::DecisionFilter df;
  df.domain = domain;
  df.from_ms = w.from_ms;
  df.to_ms = w.to_ms;
  df.with_payload = with_payload;
  df.limit = page_size;
  for (;;) {
    page.clear();
    if (auto st = storage.list_decisions(df, page); !st.ok())
      fail("list_decisions (domain " + domain + ", after " + std::to_string(df.after_created_ms) + "/" + df.after_id + ")", st);
    if (page.empty()) break;
    const auto& last = page.back();
    if (!(last.created_ms > df.after_created_ms || (last.created_ms == df.after_created_ms && last.id > df.after_id)))
      throw std::runtime_error("report: list_decisions returned a page that does not move past its cursor");
    df.after_created_ms = last.created_ms;
    df.after_id = last.id;
    for (auto& d : page) facts.decisions.push_back(std::move(d));
  }

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
  std::vector<sdk::TaskRecord> tasks;
  sdk::TaskFilter tf;
  tf.domain = domain;
  tf.after_task_id = min_id - 1;
  tf.limit = page_size;
  while (tf.after_task_id < max_id) {
    tasks.clear();
    if (auto st = storage.list_tasks(tf, tasks); !st.ok())
      fail("list_tasks (domain " + domain + ", after task " + std::to_string(tf.after_task_id) + ")", st);
    if (tasks.empty()) break;
    if (tasks.back().task_id <= tf.after_task_id)
      throw std::runtime_error("report: list_tasks returned a page that does not move past its cursor");
    tf.after_task_id = tasks.back().task_id;
    for (auto& t : tasks)
      if (task_ids.count(t.task_id)) facts.tasks.push_back(std::move(t));
  }

  // Gold tasks (quality control, service/gold.hpp) are not the domain's traffic: their decisions,
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
  std::vector<sdk::ReviewRecord> reviews;
  sdk::ReviewFilter rf;
  rf.domain = domain;
  rf.from_ms = w.from_ms;
  rf.limit = page_size;
  for (;;) {
    reviews.clear();
    if (auto st = storage.list_reviews(rf, reviews); !st.ok())
      fail("list_reviews (domain " + domain + ", after review " + std::to_string(rf.after_review_id) + ")", st);
    if (reviews.empty()) break;
    if (reviews.back().review_id <= rf.after_review_id)
      throw std::runtime_error("report: list_reviews returned a page that does not move past its cursor");
    rf.after_review_id = reviews.back().review_id;
    for (auto& r : reviews)
      if (task_ids.count(r.task_id)) facts.reviews.push_back(std::move(r));
  }
  return facts;
}

}  // namespace hitl::report
