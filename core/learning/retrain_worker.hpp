#pragma once
// The learning loop inside `hitl serve`: decides when to retrain and runs the trainings in the
// background, so ingest and review never wait for a model to fit.
//
// When: the policy's retrain(stats) is asked after final outcomes (coalesced: at most once a
// second per domain, however fast outcomes arrive) and every retrain.check_seconds; a "yes"
// queues a training unless one ran less than retrain.min_interval_seconds ago. An admin can
// queue one at any time (POST /v1/admin/domains/{d}/retrain), and `hitl retrain` runs one from
// the shell. What: learning::run_cycle (snapshot, train, register, evaluate, promote); a
// promotion is swapped into the running service at once. One training at a time, in order.
// Where: the jobs are kept in learning/retrain_jobs.hpp's store. Among instances sharing a
// database any instance queues a job (and announces it), and only the leader's worker runs them:
// it reads the queued jobs at that announcement and at least every kPollJobs.
#include <hitl/plugin_api.hpp>

#include "common/leadership.hpp"
#include "config/service_config.hpp"
#include "learning/live_guard.hpp"
#include "learning/retrain_jobs.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace hitl::plugin { class Registry; }
namespace hitl::registry { class Registry; }
namespace hitl::policy { class PolicyEngine; }

namespace hitl::service {

class Metrics;

class RetrainWorker {
 public:
  struct Deps {
    const config::ServiceConfig& cfg;
    const plugin::Registry& plugins;
    sdk::Storage& storage;
    policy::PolicyEngine& policies;
    Metrics& metrics;
    std::function<sdk::Status(sdk::WriteBatch&)> commit;  // audit records
    std::function<void()> promoted;                       // swap a promoted artifact in now
    std::shared_ptr<FileStore> job_files;                 // where the jobs are (retrain_jobs.hpp)
    std::function<void()> job_queued;                     // tell the other instances (may be empty)
  };
  // How often the leader reads the queued jobs when no announcement came (one was lost).
  static constexpr std::chrono::milliseconds kPollJobs{2000};
  explicit RetrainWorker(Deps deps);
  ~RetrainWorker();  // stops the thread
  RetrainWorker(const RetrainWorker&) = delete;
  RetrainWorker& operator=(const RetrainWorker&) = delete;

  // Starts the thread, which first reads the counters since each domain's last training from
  // storage (`hitl serve` only; `hitl ingest` and the tests that build an App never start it).
  // Each outcome and truth is counted once however it races that read: the ones heard before
  // it are in it; the ones heard while it runs are held, then counted unless the read had them
  // (by decision, and an outcome by its time); and one heard later, whose commit the read saw
  // already, is not counted again before the next training (seed(), learning/seed_hold.hpp).
  void start();
  void stop();
  // Among instances sharing a database, the trainings, the retrain(stats) checks, the schedule
  // and the live guard run on the leader only (common/leadership.hpp); an admin's request is
  // queued wherever it arrives. Before start(); `l` must outlive the worker.
  void follow(const Leadership& l) { leadership_ = &l; }
  // Returns once the thread has nothing left to do at the clock's current time: no job queued or
  // running and no domain due for retrain(stats). `hitl simulate` calls it after each step of
  // its frozen clock (common/clock.hpp), so trainings happen at the same simulated moments on
  // every run. Returns at once when the worker is not running.
  void settle();

  // A decision's human outcome became final (ReviewService's final hook): counts it (and, for an
  // audit sample, the live guard's figures) and wakes the thread. Cheap; never throws.
  void outcome(const sdk::DecisionRecord& decision) noexcept;
  // A ground truth was reported (Governance's hook). The first one of a decision no person
  // reviewed is new evidence, counted like an outcome (a correction when it differs from the
  // model's label); a reviewed decision was counted at its outcome. Never throws.
  void truth(const sdk::DecisionRecord& decision, bool first) noexcept;

  // Another instance queued a job (its retrain_requested event): the leader reads them now.
  void jobs_changed() noexcept;

  // Queues a training of `domain` (an admin's). `queued` is false when one is already queued
  // or running for the domain: that job is returned instead. Throws std::invalid_argument when
  // the domain has no model (the message says so), std::logic_error when the worker is not
  // running (not started, or stopping), std::runtime_error when the jobs cannot be read or
  // written (the shared database away). job() and cancel() throw that too.
  RetrainJob request(const std::string& domain, const std::string& trigger, const std::string& reason,
                     std::optional<bool> promote, bool& queued);
  // The domain's stats as retrain(stats) sees them now, its recent jobs (newest first) and
  // the registry's live version. Throws std::invalid_argument for an unknown domain.
  nlohmann::json status(const std::string& domain);
  std::optional<RetrainJob> job(std::int64_t id) const;
  // Withdraws a queued job (status "cancelled", kept with the finished ones). nullopt for an id
  // not kept; std::logic_error for a job already running or finished (it cannot be undone).
  std::optional<RetrainJob> cancel(std::int64_t id, const std::string& by);

 private:
  struct DomainState;
  // A labelled case's kind: a final human outcome, or the first ground truth of a decision no
  // person reviewed. The seed's read tells them apart by decision, and outcomes by time (seed()).
  enum class Evidence : std::uint8_t { outcome, truth };
  void seed();  // the counters since each domain's last training, from storage
  void seed_domain(const std::string& name, DomainState& st, const registry::Registry& reg, std::int64_t now);
  // One new labelled case of decision `d`, heard live (the hooks above).
  void count_evidence(const sdk::DecisionRecord& d, Evidence kind, bool correction) noexcept;
  void run();
  void check(const std::string& domain, const char* event);
  nlohmann::json stats_of(const std::string& domain, const char* event);
  void run_job(RetrainJob& job);
  // The leader's next queued job, run to its end (and, on taking the lead, the jobs a previous
  // leader left running ended). True when it ran one. mu_ held on entry and exit.
  bool run_next_job(std::unique_lock<std::mutex>& lock);
  // (multi_reviewed, disagreed) since `since`, from a cached figure when it is fresh.
  std::pair<std::int64_t, std::int64_t> disagreement(const std::string& domain, std::int64_t since, std::int64_t now);
  // Queues a job (unless the domain has one: `queued` false), wakes the thread, tells the others.
  RetrainJob enqueue(const std::string& domain, const std::string& trigger, const std::string& reason, bool promote,
                     std::shared_ptr<const nlohmann::json> stats, bool& queued);

  Deps deps_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;  // the thread found nothing to do (settle)
  std::uint64_t idle_passes_ = 0;
  bool stopping_ = false, started_ = false;
  std::map<std::string, std::unique_ptr<DomainState>> domains_;
  RetrainJobs jobs_;
  bool jobs_hint_ = true;  // a job may be queued: read them at the next pass (mu_ held)
  bool led_ = false;       // led at the last pass (false: the next pass that leads takes the lead over)
  std::chrono::steady_clock::time_point next_poll_{};
  learning::LiveGuard guard_;
  std::set<std::string> guard_due_;  // domains with new audit outcomes for the live guard; mu_ held
  void judge_live(const std::set<std::string>& domains);  // the live guard, on the worker's thread
  const Leadership* leadership_ = nullptr;  // none: alone, always leads
  std::thread thread_;
};

}  // namespace hitl::service
