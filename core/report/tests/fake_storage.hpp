#pragma once
// An in-memory sdk::Storage implementing the documented filter and cursor semantics of
// list_decisions / list_tasks / list_reviews, for the report's paging tests (no plugin involved).
#include <hitl/plugin_api.hpp>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

namespace hitl::report::test {

inline bool in(std::int64_t t, std::int64_t from, std::int64_t to) { return (from == 0 || t >= from) && (to == 0 || t < to); }

class FakeStorage : public sdk::Storage {
 public:
  std::vector<sdk::DecisionRecord> decisions;  // any order; listed in (created_ms, id) order
  std::vector<sdk::TaskRecord> tasks;          // listed in task_id order
  std::vector<sdk::ReviewRecord> reviews;      // listed in review_id order
  std::size_t max_page = 1'000'000;            // a plugin may return fewer than `limit`
  std::string fail_on;                         // "list_tasks" etc.: that call fails
  int decision_calls = 0, task_calls = 0, review_calls = 0;

  sdk::Status list_decisions(const sdk::DecisionFilter& f, std::vector<sdk::DecisionRecord>& out) noexcept override {
    ++decision_calls;
    if (fail_on == "list_decisions") return sdk::Status::Error(sdk::Code::unavailable, "database is locked");
    auto all = decisions;
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return std::tie(a.created_ms, a.id) < std::tie(b.created_ms, b.id);
    });
    const bool cursor = f.after_created_ms != 0 || !f.after_id.empty();
    out.clear();
    for (auto d : all) {
      if (d.domain != f.domain || !in(d.created_ms, f.from_ms, f.to_ms)) continue;
      if (cursor && std::tie(d.created_ms, d.id) <= std::tie(f.after_created_ms, f.after_id)) continue;
      if (!f.with_payload) d.input_json = d.meta_json = d.prediction_json = "";
      out.push_back(d);
      if (out.size() == std::min(f.limit, max_page)) break;
    }
    return sdk::Status::Ok();
  }
  sdk::Status list_tasks(const sdk::TaskFilter& f, std::vector<sdk::TaskRecord>& out) noexcept override {
    ++task_calls;
    if (fail_on == "list_tasks") return sdk::Status::Error(sdk::Code::internal, "disk I/O error");
    out.clear();
    for (const auto& t : tasks) {
      if ((!f.domain.empty() && t.domain != f.domain) || !in(t.created_ms, f.from_ms, f.to_ms)) continue;
      if (!f.status.empty() && t.status != f.status) continue;
      if (t.task_id <= f.after_task_id) continue;
      out.push_back(t);
      if (out.size() == std::min(f.limit, max_page)) break;
    }
    return sdk::Status::Ok();
  }
  sdk::Status list_reviews(const sdk::ReviewFilter& f, std::vector<sdk::ReviewRecord>& out) noexcept override {
    ++review_calls;
    if (fail_on == "list_reviews") return sdk::Status::Error(sdk::Code::internal, "no such table");
    out.clear();
    for (const auto& r : reviews) {
      if ((!f.domain.empty() && r.domain != f.domain) || !in(r.created_ms, f.from_ms, f.to_ms)) continue;
      if ((f.task_id != 0 && r.task_id != f.task_id) || r.review_id <= f.after_review_id) continue;
      out.push_back(r);
      if (out.size() == std::min(f.limit, max_page)) break;
    }
    return sdk::Status::Ok();
  }
  // Not read by the report (get_task: by the series, for the tasks of older decisions).
  sdk::Status commit(sdk::WriteBatch&) noexcept override { return sdk::Status::Ok(); }
  sdk::Status get_decision(const std::string&, const std::string&, std::optional<sdk::DecisionRecord>&) noexcept override {
    return sdk::Status::Ok();
  }
  sdk::Status get_task(std::int64_t id, std::optional<sdk::TaskRecord>& out) noexcept override {
    out.reset();
    for (const auto& t : tasks)
      if (t.task_id == id) out = t;
    return sdk::Status::Ok();
  }
  sdk::Status list_feedback(const std::string&, std::vector<sdk::FeedbackRecord>&) noexcept override { return sdk::Status::Ok(); }
  sdk::Status list_audit(const sdk::AuditFilter&, std::vector<sdk::AuditRecord>&) noexcept override { return sdk::Status::Ok(); }
  sdk::Status find_token(const std::string&, std::optional<sdk::TokenRecord>&) noexcept override { return sdk::Status::Ok(); }
  sdk::Status list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept override {
    out.clear();
    return sdk::Status::Ok();
  }
  sdk::Status list_deliveries(const sdk::DeliveryFilter&, std::vector<sdk::DeliveryRecord>& out) noexcept override {
    out.clear();
    return sdk::Status::Ok();
  }
  sdk::Status schema_version(int& out) noexcept override {
    out = 0;
    return sdk::Status::Ok();
  }
};

}  // namespace hitl::report::test
