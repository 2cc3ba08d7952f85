// GET /v1/me: who the token is (the UI picks its pages by role) and the domains it may use.
// GET /v1/me/figures: the reviewer's own figures per domain.
// POST /v1/review/tasks/{id}/renew: the reviewer's lease on the task they work, extended.
#include "api/handlers.hpp"
#include "api/ui_routes.hpp"

#include "common/clock.hpp"
#include "common/task_state.hpp"
#include "policy/policy_engine.hpp"
#include "api/api_body.hpp"
#include "app/app.hpp"
#include "review/assignment.hpp"
#include "review/review.hpp"
#include "governance/auth.hpp"
#include "common/service_error.hpp"

#include <nlohmann/json.hpp>

namespace hitl::ui {
using nlohmann::json;
using service::ServiceError;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

json me_json(service::App& app, const service::Principal& who) {
  json domains = json::array();
  for (auto& [name, d] : app.config().domains) {
    if (!who.may_access(name)) continue;
    domains.push_back({{"name", name}, {"labels", d.labels}, {"policy_hash", app.policies().policy_hash(name)}});
  }
  return {{"name", who.name}, {"role", service::role_name(who.role)}, {"domains", std::move(domains)}};
}

struct Quality {
  std::int64_t reviewed_today = 0, gold_answers = 0, gold_correct = 0, consensus_rounds = 0, agreed = 0;
};

// Over every review of theirs in the domain. Gold answers count only before today (UTC): a
// figure that moved right after an answer would tell the reviewer that task was gold.
Quality quality_of(sdk::Storage& storage, const std::string& reviewer, const std::string& domain, std::int64_t now) {
  const std::int64_t today = now - now % kDayMs;
  Quality q;
  sdk::ReviewFilter f;
  f.reviewer = reviewer;
  f.domain = domain;
  f.limit = 100000;
  std::vector<sdk::ReviewRecord> mine;
  if (auto st = storage.list_reviews(f, mine); !st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  for (auto& r : mine) {
    std::optional<sdk::TaskRecord> t;
    if (!storage.get_task(r.task_id, t).ok() || !t) continue;
    if (r.created_ms >= today) ++q.reviewed_today;
    if (t->gold) {
      if (r.created_ms >= today) continue;
      ++q.gold_answers;
      q.gold_correct += r.final_label == t->gold_label;
    } else if (t->reviews_required > 1 && service::is(t->status, service::TaskState::completed)) {
      std::optional<sdk::DecisionRecord> d;
      if (!storage.get_decision(t->domain, t->decision_id, d).ok() || !d) continue;
      ++q.consensus_rounds;
      q.agreed += r.final_label == d->final_label;
    }
  }
  return q;
}

json share(std::int64_t part, std::int64_t whole) {
  return whole ? json(static_cast<double>(part) / static_cast<double>(whole)) : json(nullptr);
}

json figures_json(service::App& app, const service::Principal& who) {
  json out = json::object();
  const std::int64_t now = now_ms();
  for (auto& [name, _] : app.config().domains) {
    if (!who.may_access(name)) continue;
    const auto s = app.assignment().stats(who.name, name, /*quality=*/false);
    const Quality q = quality_of(app.report_storage(), who.name, name, now);
    out[name] = {{"held", s.held},
                 {"consecutive", s.consecutive},
                 {"last_hour", s.last_hour},
                 {"reviewed_today", q.reviewed_today},
                 {"gold_answers_before_today", q.gold_answers},
                 {"gold_accuracy", share(q.gold_correct, q.gold_answers)},
                 {"consensus_rounds", q.consensus_rounds},
                 {"agreement", share(q.agreed, q.consensus_rounds)}};
  }
  return {{"reviewer", who.name}, {"day_start_ms", now - now % kDayMs}, {"domains", std::move(out)}};
}

}  // namespace

void get_me(RouteCall& c) { c.respond(service::reply(me_json(c.app, c.who))); }

void renew_lease(RouteCall& c) {
  const std::int64_t task_id = service::task_id_of(c.params[0]);
  const std::int64_t expires = c.app.review().renew(task_id, c.who);
  c.respond(service::reply({{"task_id", task_id}, {"lease_expires_ms", expires}}));
}

void get_figures(RouteCall& c) { c.respond(service::reply(figures_json(c.app, c.who))); }

}  // namespace hitl::ui
