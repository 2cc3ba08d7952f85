#include "app/housekeeping.hpp"

#include "app/app.hpp"
#include "app/policy_reloader.hpp"
#include "app/slow_lane.hpp"
#include "audit/audit_chain.hpp"
#include "audit/audit_record.hpp"
#include "cluster/cluster.hpp"
#include "common/clock.hpp"
#include "governance/auth.hpp"
#include "governance/governance.hpp"
#include "learning/retrain_worker.hpp"
#include "notify/notify.hpp"
#include "policy/policy_engine.hpp"
#include "review/review.hpp"
#include "store/writer.hpp"

#include <spdlog/spdlog.h>

namespace hitl::service {

void erase_expired_payloads(App& app, std::int64_t now) {
  for (auto& [name, d] : app.config().domains) {
    if (d.retention_days <= 0) continue;
    try {
      app.governance().erase_older_than(name, now - d.retention_days * 86'400'000, audit::kSystemActor,
                                        "retention: older than " + std::to_string(d.retention_days) + " days");
    } catch (const std::exception& e) {
      spdlog::warn("retention domain={}: {}", name, e.what());
    }
  }
}

void record_token_uses(App& app) {
  if (!app.tokens().life_cycle()) return;
  auto uses = app.tokens().take_uses();
  if (uses.empty()) return;
  auto st = app.writer().call_sync([&uses](sdk::Storage& s) { return s.record_token_uses(uses); });
  if (!st.ok()) spdlog::warn("last use of {} tokens not recorded: {}", uses.size(), st.message);
}

// Keeps or takes the leadership among instances sharing the database (cluster/cluster.hpp);
// says when it moves here or away. Alone, nothing changes.
void refresh_leadership(App& app) {
  if (!app.cluster().refresh()) return;
  if (app.cluster().leader())
    spdlog::info("cluster: this instance leads: it runs the SLA timer, retention, webhook deliveries and retraining checks");
  else
    spdlog::warn("cluster: this instance no longer leads");
}

// Longer than one tick of every instance's lease expiry, which takes a lease back first.
constexpr std::int64_t kOrphanGraceMs = 2000;

std::vector<PeriodicJob> housekeeping_jobs(App& app) {
  const std::int64_t head_every_ms = app.config().audit_head_log_seconds * 1000;
  auto leading = [&app] { return app.cluster().leader(); };
  std::vector<PeriodicJob> jobs{
      // First, so every job below knows at each tick whether this instance leads.
      {"leadership", 1000, 0, [&app] { refresh_leadership(app); return false; }},
      // Every instance: a lease is taken back by one atomic update, whichever instance sees it.
      // Sharing a database, the leader also returns the claims an instance's death left with
      // no queue item (ReviewService::return_orphaned_claims), 2 s after their lease ran out.
      {"lease expiry", 1000, 0, [&app, leading] {
         app.review().expire_leases();
         if (app.cluster().shared() && leading()) app.review().return_orphaned_claims(kOrphanGraceMs);
         return false;
       }},
      {"model reload", 2000, 2000, [&app] { app.reload_models(); return false; }},
      // A burst (more due than one call handles) goes on at the next tick, after lease expiry.
      // The leader only: one SLA timer and one retention sweep whatever the number of instances.
      {"sla check", 5000, 0, [&app, leading] {
         return leading() && app.review().check_slas() >= ReviewService::kSlaEventsPerCheck;
       }},
      {"audit chain head", head_every_ms, head_every_ms, [&app] {
         const auto h = audit::chain_head(app.storage());
         spdlog::info("audit chain head seq {} hash {}", h.seq, h.hash);
         return false;
       }},
      {"retention", 60'000, 0, [&app, leading] {
         if (leading()) erase_expired_payloads(app, now_ms());
         return false;
       }},
      {"token last use", 60'000, 60'000, [&app] { record_token_uses(app); return false; }},
  };
  if (const std::int64_t watch_ms = app.config().policy_watch_seconds * 1000; watch_ms > 0)
    jobs.push_back({"policy reload", watch_ms, watch_ms, [&app] { app.policy_reloader().reload_changed(); return false; }});
  return jobs;
}

Background::Background(App& app, std::int64_t tick_ms) : app_(app), scheduler_(housekeeping_jobs(app), tick_ms) {}

Background::~Background() { stop(); }

void Background::start() {
  started_ = true;
  // Lead from the start when no other instance does, not a tick later: the retrain worker and
  // the notifier below act on it at once.
  refresh_leadership(app_);
  app_.slow_lane().start();
  app_.notifier().start();
  // Trainings the policy's retrain(stats) or an admin asks for run on the worker's own thread.
  app_.retrain().start();
  // The other instances' final outcomes, ground truths and promotions (App::hear).
  app_.cluster().listen([this](const cluster::Event& e) { app_.hear(e); });
  requeue_ = std::thread([this] {
    try {
      const auto started = now_ms();
      const std::size_t n = app_.review().requeue_open_tasks(stopping_);
      spdlog::info("requeued {} open review tasks in {} ms", n, now_ms() - started);
    } catch (const std::exception& e) {
      spdlog::error("requeue of open tasks stopped: {} (they are re-queued at the next start)", e.what());
    }
  });
  scheduler_.start();
}

void Background::stop() {
  if (!started_) return;
  started_ = false;
  stopping_ = true;
  app_.policies().interrupt();  // a policy call in progress must not hold a thread past the stop
  if (requeue_.joinable()) requeue_.join();
  scheduler_.stop();
  app_.cluster().stop();  // stops hearing events; the leadership goes to another instance now
  app_.retrain().stop();
  app_.notifier().stop();
  app_.slow_lane().stop();
  record_token_uses(app_);  // the last minute's, before the writer goes
}

}  // namespace hitl::service
