#pragma once
// Cursor paging over sdk::Storage's list calls, shared by load_facts and the streamed report.
// Paging stops at an empty page, not at a short one, because a plugin may cap `limit` below what
// was asked; a cursor that does not move forward is reported instead of looping forever on a
// misbehaving plugin. Private to core/report.
#include "report/report.hpp"

#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace hitl::report::detail {

// The decisions of `domain` created in `w`, `page_size` a page, with or without their payload.
sdk::DecisionFilter window_filter(const std::string& domain, Window w, bool with_payload, std::size_t page_size);
// Every decision `df` selects, in (created_ms, id) order, one page of df.limit at a time.
void each_decision(sdk::Storage& storage, sdk::DecisionFilter df, const std::function<void(sdk::DecisionRecord&)>& fn);
// Every task of tf.domain with tf.after_task_id < task_id, in id order, until past `max_id`.
void each_task(sdk::Storage& storage, sdk::TaskFilter tf, std::int64_t max_id,
               const std::function<void(sdk::TaskRecord&)>& fn);
// Every review `rf` selects, in review_id order.
void each_review(sdk::Storage& storage, sdk::ReviewFilter rf, const std::function<void(sdk::ReviewRecord&)>& fn);

}  // namespace hitl::report::detail
