#include "learning/retrain_worker.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "learning/cycle.hpp"
#include "learning/seed_hold.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"
#include "registry/registry.hpp"
#include "metrics/metrics.hpp"
#include "common/task_state.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace hitl::service {
using nlohmann::json;

namespace {
// retrain(stats) after outcomes: at most once a second, and also after every kOutcomeCheckEveryCount
// outcomes, so a fast stream (hundreds of outcomes a second) is asked as it goes, not once.
constexpr std::int64_t kOutcomeCheckEveryMs = 1000;
constexpr std::int64_t kOutcomeCheckEveryCount = 50;
constexpr std::int64_t kDisagreementMs = 30'000;     // how long a reviewer-disagreement figure is reused

// Predictions the pipeline stored: repeated ids are counted as predictions too, not stored again.
// Read as signed: the two counters move independently, so the difference may dip for a moment.
std::int64_t stored_predictions(const DomainCounters& c) {
  return std::int64_t(c.predictions.load()) - std::int64_t(c.duplicates.load());
}

json rate(std::int64_t part, std::int64_t whole) { return whole > 0 ? json(double(part) / double(whole)) : json(); }

// The keys the seed's read and the live hooks name a labelled case by (learning/seed_hold.hpp):
// a final outcome by its time (a decision sent back gets another), a decision's first truth alone.
learning::SeedKey outcome_key(std::string decision_id, std::int64_t final_ms) { return {std::move(decision_id), 0, final_ms}; }
learning::SeedKey truth_key(std::string decision_id) { return {std::move(decision_id), 1, 0}; }

// What storage holds since the last training (at `since`): the samples (final human outcomes,
// and the reported truths of decisions nobody reviewed, as truth() counts them live; a truth is
// found on the decisions made since then) and their corrections, the decisions made and flagged.
struct SinceTraining {
  std::int64_t samples = 0, corrections = 0, predictions = 0, flagged = 0;
  learning::SeedSeen seen;  // the samples counted, by key: which live events the read already had
};

SinceTraining count_since(sdk::Storage& storage, const std::string& domain, std::int64_t since) {
  SinceTraining n;
  std::vector<sdk::FeedbackRecord> feedback;
  if (auto s = storage.list_feedback(domain, feedback); !s.ok()) throw std::runtime_error(s.message);
  for (auto& f : feedback)
    if (f.created_ms >= since) {
      ++n.samples;
      if (f.final_label != f.model_label) ++n.corrections;
      n.seen.insert(outcome_key(std::move(f.decision_id), f.created_ms));  // the final's time, as the review writes both
    }
  sdk::DecisionFilter filter;
  filter.domain = domain;
  filter.from_ms = since;
  filter.with_payload = false;
  for (;;) {
    std::vector<sdk::DecisionRecord> page;
    if (auto s = storage.list_decisions(filter, page); !s.ok()) throw std::runtime_error(s.message);
    for (auto& d : page) {
      ++n.predictions;
      if (is(d.status, DecisionState::pending_review)) ++n.flagged;
      if (d.final_outcome.empty() && !d.truth_label.empty() && d.truth_ms >= since) {
        ++n.samples;
        if (d.truth_label != d.label) ++n.corrections;
        n.seen.insert(truth_key(d.id));
      }
    }
    if (page.size() < filter.limit) break;
    filter.after_created_ms = page.back().created_ms;
    filter.after_id = page.back().id;
  }
  return n;
}

}  // namespace

// Counters since the domain's last training. The flag figures are a storage count taken at
// start() plus what the pipeline's counters added since (so no query per check).
struct RetrainWorker::DomainState {
  bool trainable = false;
  bool dirty = false;
  std::int64_t outcomes_since_check = 0;
  std::int64_t last_check_ms = 0, next_schedule_ms = 0;
  std::int64_t last_training_ms = 0;  // 0 = never trained (nothing registered)
  std::int64_t last_attempt_ms = 0;   // the last training started, whatever its end
  std::int64_t samples = 0, corrections = 0;
  std::int64_t seed_predictions = 0, seed_flagged = 0;
  std::int64_t counter_predictions = 0, counter_flagged = 0;  // the pipeline counters at the seed (less repeats)
  std::optional<double> flag_rate_at_training;
  // The seed's read of storage (seed()) against the live hooks: each labelled case counts once
  // (the rule is learning/seed_hold.hpp's). A held case keeps whether it is a correction; the
  // read's keys are dropped at the next training.
  learning::SeedHold<bool> seed;
  // Reviewer disagreement reads the reviews since the last training: kept for a while.
  std::optional<std::pair<std::int64_t, std::int64_t>> disagreement;  // (multi_reviewed, disagreed)
  std::int64_t disagreement_ms = 0;

  bool seeded() const { return seed.read(); }
  // A live case (mu_ held): true when it counts now, false when held or the read had it.
  bool hear(Evidence kind, const sdk::DecisionRecord& d, bool correction) {
    if (!seed.hear(kind == Evidence::truth ? truth_key(d.id) : outcome_key(d.id, d.final_ms), correction)) return false;
    count(correction);
    return true;
  }
  void count(bool correction) {
    ++samples;
    if (correction) ++corrections;
  }
  // The read is in (mu_ held; nullopt: it failed, and the live figures stand): its figures
  // replace what was heard before it, then each held case counts unless the read had it.
  void end_seed(std::optional<SinceTraining>& read) {
    std::optional<learning::SeedSeen> seen;
    if (read) {
      samples = read->samples;
      corrections = read->corrections;
      seen = std::move(read->seen);
    }
    dirty = seed.end(std::move(seen), [this](bool correction) { count(correction); }) || dirty;
  }
};

RetrainWorker::RetrainWorker(Deps deps)
    : deps_(std::move(deps)),
      jobs_(deps_.job_files ? deps_.job_files : memory_store()),
      guard_({deps_.cfg, deps_.storage, deps_.commit, deps_.promoted}) {
  for (auto& [name, d] : deps_.cfg.domains) {
    auto st = std::make_unique<DomainState>();
    st->trainable = !d.model.empty();
    domains_[name] = std::move(st);
  }
}

RetrainWorker::~RetrainWorker() { stop(); }

void RetrainWorker::seed() {
  const std::int64_t now = now_ms();
  const registry::Registry reg(deps_.cfg.registry_dir);
  for (auto& [name, st] : domains_)
    if (st->trainable) seed_domain(name, *st, reg, now);
}

void RetrainWorker::seed_domain(const std::string& name, DomainState& st, const registry::Registry& reg,
                                std::int64_t now) {
  {
    std::lock_guard lock(mu_);
    st.seed.begin();  // from here on, live events wait for the read
  }
  std::optional<SinceTraining> read;
  std::optional<double> flag_rate;
  std::int64_t since = 0;
  try {
    auto versions = reg.list(name);
    if (!versions.empty()) {
      since = versions.back().created_ms;
      const auto& ts = versions.back().trigger_stats;
      if (ts.is_object() && ts.contains("flag_rate") && ts["flag_rate"].is_number()) flag_rate = ts["flag_rate"].get<double>();
    }
    read = count_since(deps_.storage, name, since);
  } catch (const std::exception& e) {
    // Counted from now on instead: the policy is still asked, on smaller figures.
    spdlog::error("retrain domain={}: cannot read the counters since the last training, counting from now: {}", name,
                  e.what());
  }
  std::lock_guard lock(mu_);
  if (flag_rate) st.flag_rate_at_training = flag_rate;
  if (read) {
    st.last_training_ms = since;
    st.seed_predictions = read->predictions;
    st.seed_flagged = read->flagged;
    if (auto* c = deps_.metrics.domain(name)) {
      st.counter_predictions = stored_predictions(*c);
      st.counter_flagged = std::int64_t(c->pending_review.load());
    }
  }
  st.end_seed(read);
  const auto& dc = deps_.cfg.domains.at(name);
  st.next_schedule_ms = dc.retrain_check_seconds > 0 ? now + dc.retrain_check_seconds * 1000 : 0;
}

void RetrainWorker::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  // The counters are read from storage on the worker's thread, so a long history never delays
  // the service's start; checks begin once they are in.
  thread_ = std::thread([this] {
    seed();
    std::set<std::string> domains;
    for (auto& [name, st] : domains_)
      if (st->trainable) domains.insert(name);
    for (auto& name : domains) {
      try {
        guard_.seed(name);
      } catch (const std::exception& e) {
        spdlog::error("live guard domain={}: cannot read the audit samples since the last promotion: {}", name, e.what());
      }
    }
    if (leads(leadership_)) {
      judge_live(domains);
    } else {
      std::lock_guard later(mu_);  // judged once this instance leads (run())
      guard_due_.insert(domains.begin(), domains.end());
    }
    run();
  });
}

void RetrainWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  idle_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetrainWorker::outcome(const sdk::DecisionRecord& d) noexcept {
  if (guard_.outcome(d)) {
    try {
      std::lock_guard lock(mu_);
      guard_due_.insert(d.domain);
    } catch (...) {
      // out of memory: the next audit outcome asks again
    }
  }
  count_evidence(d, Evidence::outcome, d.final_label != d.label);
}

void RetrainWorker::judge_live(const std::set<std::string>& domains) {
  for (auto& domain : domains) {
    try {
      if (auto verdict = guard_.judge(domain); !verdict.empty()) spdlog::warn("live guard domain={}: {}", domain, verdict);
    } catch (const std::exception& e) {
      spdlog::error("live guard domain={}: {}", domain, e.what());
    }
  }
}

void RetrainWorker::truth(const sdk::DecisionRecord& d, bool first) noexcept {
  if (first && d.final_outcome.empty()) count_evidence(d, Evidence::truth, d.truth_label != d.label);
}

void RetrainWorker::count_evidence(const sdk::DecisionRecord& d, Evidence kind, bool correction) noexcept {
  try {
    std::lock_guard lock(mu_);
    auto it = domains_.find(d.domain);
    if (it == domains_.end() || !it->second->trainable) return;
    if (!it->second->hear(kind, d, correction)) return;
    it->second->dirty = true;
    ++it->second->outcomes_since_check;
  } catch (const std::exception& e) {  // out of memory holding it: this one is not counted
    spdlog::error("retrain domain={}: a labelled case not counted: {}", d.domain, e.what());
    return;
  }
  wake_.notify_all();
}

RetrainJob RetrainWorker::enqueue(const std::string& domain, const std::string& trigger, const std::string& reason,
                                  bool promote, std::shared_ptr<const json> stats, bool& queued) {
  RetrainJob j;
  j.domain = domain;
  j.trigger = trigger;
  j.reason = reason;
  j.promote = promote;
  j.stats = std::move(stats);
  j = jobs_.add(std::move(j), now_ms(), queued);
  if (!queued) return j;
  jobs_changed();
  if (deps_.job_queued) deps_.job_queued();
  return j;
}

void RetrainWorker::jobs_changed() noexcept {
  {
    std::lock_guard lock(mu_);
    jobs_hint_ = true;
  }
  wake_.notify_all();
}

RetrainJob RetrainWorker::request(const std::string& domain, const std::string& trigger, const std::string& reason,
                                  std::optional<bool> promote, bool& queued) {
  auto dom = deps_.cfg.domains.find(domain);
  if (dom == deps_.cfg.domains.end()) throw std::invalid_argument("no domain named \"" + domain + "\"");
  if (dom->second.model.empty())
    throw std::invalid_argument("domain \"" + domain + "\" has no model to train (clients send their predictions)");
  queued = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !started_) throw std::logic_error("the retrain worker is not running (the service is stopping)");
  }
  return enqueue(domain, trigger, reason, promote.value_or(dom->second.retrain_promote), nullptr, queued);
}

std::optional<RetrainJob> RetrainWorker::job(std::int64_t id) const { return jobs_.find(id); }

std::optional<RetrainJob> RetrainWorker::cancel(std::int64_t id, const std::string& by) {
  return jobs_.cancel(id, by, now_ms());
}

std::pair<std::int64_t, std::int64_t> RetrainWorker::disagreement(const std::string& domain, std::int64_t since,
                                                                  std::int64_t now) {
  {
    std::lock_guard lock(mu_);
    const auto& st = *domains_.at(domain);
    if (st.disagreement && now - st.disagreement_ms < kDisagreementMs) return *st.disagreement;
  }
  // Of the tasks two or more people answered since the last training, those whose answers were
  // not all the same label. Read at most every kDisagreementMs.
  std::unordered_map<std::int64_t, std::set<std::string>> labels;
  std::unordered_map<std::int64_t, int> answers;
  sdk::ReviewFilter rf;
  rf.domain = domain;
  rf.from_ms = since;
  for (;;) {
    std::vector<sdk::ReviewRecord> page;
    if (auto st = deps_.storage.list_reviews(rf, page); !st.ok()) throw std::runtime_error("cannot read reviews: " + st.message);
    for (auto& r : page) {
      labels[r.task_id].insert(r.final_label);
      ++answers[r.task_id];
    }
    if (page.size() < rf.limit) break;
    rf.after_review_id = page.back().review_id;
  }
  std::int64_t multi = 0, disagreed = 0;
  for (auto& [task, n] : answers)
    if (n >= 2) {
      ++multi;
      if (labels[task].size() > 1) ++disagreed;
    }
  std::lock_guard lock(mu_);
  auto& st = *domains_.at(domain);
  if (st.last_training_ms == since) {  // not outdated by a training meanwhile
    st.disagreement = std::make_pair(multi, disagreed);
    st.disagreement_ms = now;
  }
  return {multi, disagreed};
}

json RetrainWorker::stats_of(const std::string& domain, const char* event) {
  const std::int64_t now = now_ms();
  json s;
  std::int64_t since = 0;
  bool seeded = false;
  {
    std::lock_guard lock(mu_);
    const auto& st = *domains_.at(domain);
    since = st.last_training_ms;
    seeded = st.seeded();
    std::int64_t predictions = st.seed_predictions, flagged = st.seed_flagged;
    if (auto* c = deps_.metrics.domain(domain)) {
      predictions += std::max<std::int64_t>(0, stored_predictions(*c) - st.counter_predictions);
      flagged += std::max<std::int64_t>(0, std::int64_t(c->pending_review.load()) - st.counter_flagged);
    }
    s = {{"domain", domain},
         {"event", event},
         {"now_ms", now},
         {"samples", st.samples},
         {"corrections", st.corrections},
         {"correction_rate", rate(st.corrections, st.samples)},
         {"predictions", predictions},
         {"flagged", flagged},
         {"flag_rate", rate(flagged, predictions)},
         {"flag_rate_at_training", st.flag_rate_at_training ? json(*st.flag_rate_at_training) : json()},
         {"last_training_ms", since ? json(since) : json()},
         {"seconds_since_training", since ? json((now - since) / 1000.0) : json()}};
  }
  s["seeding"] = !seeded;
  const auto [multi, disagreed] = disagreement(domain, since, now);
  s["multi_reviewed"] = multi;
  s["disagreement"] = rate(disagreed, multi);
  s["live_model"] = registry::Registry(deps_.cfg.registry_dir).live(domain).id;
  return s;
}

void RetrainWorker::check(const std::string& domain, const char* event) {
  if (!deps_.policies.has_retrain(domain)) return;
  json stats;
  try {
    stats = stats_of(domain, event);
  } catch (const std::exception& e) {
    spdlog::warn("retrain domain={}: cannot compute the stats: {}", domain, e.what());
    return;
  }
  auto* counters = deps_.metrics.domain(domain);
  if (counters) counters->retrain_checks++;
  std::string reason;
  bool failed = false;
  auto yes = deps_.policies.retrain(domain, stats, reason, failed);
  if (!yes || !*yes) return;  // a failed hook is false: it was logged and counted by the engine
  const auto& dc = deps_.cfg.domains.at(domain);
  {
    std::lock_guard lock(mu_);
    const auto& st = *domains_.at(domain);
    const std::int64_t now = now_ms();
    if (st.last_attempt_ms && now - st.last_attempt_ms < dc.retrain_min_interval_seconds * 1000) {
      spdlog::debug("retrain domain={}: policy said yes ({}) but the last training began {} s ago (min_interval_seconds {})",
                    domain, reason, (now - st.last_attempt_ms) / 1000, dc.retrain_min_interval_seconds);
      return;
    }
  }
  bool queued = false;
  try {
    enqueue(domain, "policy", reason, dc.retrain_promote, std::make_shared<const json>(stats), queued);
  } catch (const std::exception& e) {
    spdlog::error("retrain domain={}: the policy asked for a training, not queued: {}", domain, e.what());
    return;
  }
  if (!queued) return;  // one is queued or running already
  if (counters) counters->retrain_triggers++;
  spdlog::info("retrain domain={}: the policy asked for a training ({}): {} samples, {} corrections since the last one",
               domain, reason.empty() ? "no reason given" : reason, stats["samples"].dump(), stats["corrections"].dump());
}

void RetrainWorker::run_job(RetrainJob& job) {
  std::int64_t samples_at_start = 0, corrections_at_start = 0;
  {
    std::lock_guard lock(mu_);
    auto& st = *domains_.at(job.domain);
    st.last_attempt_ms = job.started_ms;
    samples_at_start = st.samples;
    corrections_at_start = st.corrections;
  }
  auto* counters = deps_.metrics.domain(job.domain);
  // Every training keeps the stats it began with (an admin's too), so flag_rate_at_training
  // means the same after a restart, read back from the newest version's lineage.
  if (!job.stats) {
    try {
      job.stats = std::make_shared<const json>(stats_of(job.domain, "manual"));
    } catch (const std::exception& e) {
      spdlog::warn("retrain domain={}: cannot compute the stats for the lineage: {}", job.domain, e.what());
    }
  }
  const json flag_rate = job.stats ? job.stats->value("flag_rate", json()) : json();
  learning::CycleContext ctx{deps_.cfg, deps_.plugins, deps_.storage, deps_.policies, deps_.commit, audit::kSystemActor};
  learning::CycleRequest req;
  req.domain = job.domain;
  req.trigger = job.trigger;
  req.reason = job.reason;
  req.promote = job.promote;
  req.trigger_stats = job.stats ? *job.stats : json();
  try {
    auto r = learning::run_cycle(ctx, req);
    job.status = JobState::done;
    job.result = std::make_shared<const json>(learning::to_json(r));
    {
      std::lock_guard lock(mu_);
      auto& st = *domains_.at(job.domain);
      st.last_training_ms = job.started_ms;  // outcomes from here on count toward the next one
      st.disagreement.reset();
      st.samples -= samples_at_start;
      st.corrections -= corrections_at_start;
      st.seed_predictions = st.seed_flagged = 0;
      st.seed.forget_read();  // a late event of the seed's read now counts toward the next training, as any heard after this one began
      if (counters) {
        st.counter_predictions = stored_predictions(*counters);
        st.counter_flagged = std::int64_t(counters->pending_review.load());
      }
      if (flag_rate.is_number()) st.flag_rate_at_training = flag_rate.get<double>();
    }
    if (counters) (r.promoted ? counters->trainings_promoted : counters->trainings_kept)++;
    spdlog::info("retrain domain={} trigger={}: trained {} on {} rows ({} base) of {} in {:.2f} s; {} ({}: {})", job.domain,
                 job.trigger, r.candidate_id, r.train_rows + r.base_rows, r.base_rows, r.dataset_id, r.train_seconds,
                 r.promoted ? "promoted" : "kept the live model", r.decided_by.empty() ? "-" : r.decided_by, r.decision);
    if (r.promoted && deps_.promoted) deps_.promoted();
  } catch (const std::exception& e) {
    job.status = JobState::failed;
    job.error = e.what();
    if (counters) counters->trainings_failed++;
    spdlog::error("retrain domain={} trigger={} failed, the live model stays: {}", job.domain, job.trigger, e.what());
  }
}

bool RetrainWorker::run_next_job(std::unique_lock<std::mutex>& lock) {
  const auto now = std::chrono::steady_clock::now();
  const bool took_over = !led_;
  if (!took_over && !jobs_hint_ && now < next_poll_) return false;
  led_ = true;
  jobs_hint_ = false;
  next_poll_ = now + kPollJobs;
  lock.unlock();
  std::optional<RetrainJob> job;
  bool read = true;
  try {
    // A job left running is one no instance runs now: this one runs nothing, and it leads.
    if (took_over)
      for (auto& j : jobs_.fail_running(now_ms()))
        spdlog::warn("retrain job {} domain={}: marked failed, {}", j.id, j.domain, kRunnerStopped);
    if (jobs_.any_queued()) job = jobs_.start_next(now_ms());
  } catch (const std::exception& e) {
    read = false;
    spdlog::error("retrain jobs: cannot read the queued jobs (again in {} s): {}", kPollJobs.count() / 1000, e.what());
  }
  if (job) {
    run_job(*job);
    job->finished_ms = now_ms();
    try {
      jobs_.finish(*job);
    } catch (const std::exception& e) {
      spdlog::error("retrain job {} domain={}: its end ({}) not recorded: {}", job->id, job->domain, name_of(job->status),
                    e.what());
    }
  }
  lock.lock();
  if (!read && took_over) led_ = false;  // the jobs left running are ended at the next read
  if (job) jobs_hint_ = true;            // more may wait
  return job.has_value();
}

void RetrainWorker::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const bool leading = leads(leadership_);
    if (!leading) led_ = false;
    if (leading && run_next_job(lock)) continue;
    // A follower keeps its counters (every instance hears every outcome) and checks nothing
    // until it leads: then its due checks and live-guard domains are where it left them.
    if (leading && !guard_due_.empty()) {
      const auto domains = std::move(guard_due_);
      guard_due_.clear();
      lock.unlock();
      judge_live(domains);
      lock.lock();
      continue;
    }
    // Which domains to ask now: after outcomes (coalesced), and on their schedule.
    const std::int64_t now = now_ms();
    std::vector<std::pair<std::string, const char*>> due;
    for (auto& [name, st] : domains_) {
      if (!leading || !st->trainable || !st->seeded()) continue;
      if (st->dirty && (now - st->last_check_ms >= kOutcomeCheckEveryMs ||
                        st->outcomes_since_check >= kOutcomeCheckEveryCount)) {
        st->dirty = false;
        st->outcomes_since_check = 0;
        st->last_check_ms = now;
        due.emplace_back(name, "outcome");
      } else if (st->next_schedule_ms && now >= st->next_schedule_ms) {
        st->next_schedule_ms = now + deps_.cfg.domains.at(name).retrain_check_seconds * 1000;
        st->last_check_ms = now;
        due.emplace_back(name, "schedule");
      }
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& [name, event] : due) check(name, event);
      lock.lock();
      continue;
    }
    ++idle_passes_;
    idle_.notify_all();
    wake_.wait_for(lock, std::chrono::milliseconds(250));
  }
}

void RetrainWorker::settle() {
  std::unique_lock lock(mu_);
  if (!started_ || stopping_) return;
  // A pass that begins after this point sees every outcome and clock move made before the call.
  const std::uint64_t seen = idle_passes_;
  wake_.notify_all();
  idle_.wait(lock, [&] { return idle_passes_ > seen || stopping_; });
}

json RetrainWorker::status(const std::string& domain) {
  auto dom = deps_.cfg.domains.find(domain);
  if (dom == deps_.cfg.domains.end()) throw std::invalid_argument("no domain named \"" + domain + "\"");
  json out = {{"domain", domain},
              {"trainable", !dom->second.model.empty()},
              {"has_retrain_hook", deps_.policies.has_retrain(domain)}};
  if (dom->second.model.empty()) return out;
  out["stats"] = stats_of(domain, "status");
  json jobs = json::array();
  for (const auto& j : jobs_.of_domain(domain)) jobs.push_back(to_json(j));
  out["jobs"] = std::move(jobs);
  return out;
}

}  // namespace hitl::service
