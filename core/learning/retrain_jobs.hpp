#pragma once
// The retrain jobs (learning/retrain_worker.hpp): what an admin or the policy asked to train, and
// how each request ended. Kept in a FileStore chosen once, at start (app/app.cpp):
//  - in memory when the instance is alone (gone at a restart, as ever);
//  - the storage's blobs `retrain-jobs/...` when instances share one database
//    (app/shared_learning.hpp), so a job queued on any instance is run by the leader's worker,
//    and every instance answers for every job.
// Every change holds the store's lock (on blobs: the cluster's lock across instances), so there
// is one queued-or-running job per domain and ids never collide. Files:
//   last-id                  the highest id given (ids are 1, 2, ... in the order asked)
//   jobs/<id, 19 digits>     a job, as to_json(RetrainJob) shows it
//   queued/<domain>          the id of the domain's queued job (at most one)
//   running/<domain>         the id of the domain's running job (at most one)
//   done/<domain>/<id>       an empty marker per finished job; the newest `keep` per domain stay
// A job's own file says its state; the markers are its index (a marker whose job says otherwise,
// what a crash between two writes leaves, is ignored and tidied). The leader's poll lists
// queued/ only: its cost is the number of domains with a queued job, not the jobs ever run.
#include "common/file_store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service {

enum class JobState : std::uint8_t { queued, running, done, failed, cancelled };
const char* name_of(JobState s);

struct RetrainJob {
  std::int64_t id = 0;
  std::string domain, trigger, reason;
  bool promote = true;
  JobState status = JobState::queued;
  std::int64_t created_ms = 0, started_ms = 0, finished_ms = 0;
  std::string error;
  std::shared_ptr<const nlohmann::json> result;  // learning::to_json(CycleResult) once done
  std::shared_ptr<const nlohmann::json> stats;   // what retrain(stats) saw (policy triggers)
};
nlohmann::json to_json(const RetrainJob& job);
// The job to_json wrote. Throws std::runtime_error when `j` is not one.
RetrainJob job_from_json(const nlohmann::json& j);

// What a job running on an instance that stopped ends with (fail_running).
inline constexpr const char* kRunnerStopped = "the instance running it stopped before it finished";

class RetrainJobs {
 public:
  static constexpr std::size_t kKeepPerDomain = 20;  // finished jobs kept per domain
  explicit RetrainJobs(std::shared_ptr<FileStore> files, std::size_t keep_per_domain = kKeepPerDomain);

  // Queues `job` (its id, status and created_ms are set here) unless its domain has a job queued
  // or running: then that one is returned and `queued` is false. Every method throws
  // std::runtime_error when the store cannot be read or written (nothing half-done is shown:
  // the job's own file is written before its marker).
  RetrainJob add(RetrainJob job, std::int64_t now_ms, bool& queued);
  std::optional<RetrainJob> find(std::int64_t id) const;
  // The domain's queued or running job, then its finished ones, newest first.
  std::vector<RetrainJob> of_domain(const std::string& domain) const;
  bool active(const std::string& domain) const;
  // Whether any job is queued, without the lock: the poll's cheap first look.
  bool any_queued() const;
  // The oldest queued job, now running since `now_ms` (only one caller gets each); nullopt: none.
  std::optional<RetrainJob> start_next(std::int64_t now_ms);
  // Records the end of a job start_next gave (done or failed, with finished_ms), even when
  // fail_running marked it failed meanwhile (what it did, it did), and trims its domain.
  void finish(const RetrainJob& job);
  // Withdraws a queued job (cancelled, "cancelled by <by>"). nullopt for an id not kept;
  // std::logic_error for a job running (it cannot be stopped part-way) or finished.
  std::optional<RetrainJob> cancel(std::int64_t id, const std::string& by, std::int64_t now_ms);
  // Ends every running job as failed (kRunnerStopped): what a new leader does, when nothing runs
  // on it, with the jobs its predecessor left. Returns them.
  std::vector<RetrainJob> fail_running(std::int64_t now_ms);

 private:
  std::optional<RetrainJob> read_job(std::int64_t id) const;
  // The job a state marker names, when its file still says that state.
  std::optional<RetrainJob> marked(const std::string& marker, JobState state) const;
  void write_job(const RetrainJob& job);
  void record_finished(const RetrainJob& job, const std::string& marker);  // lock held
  void trim(const std::string& domain);                                     // lock held

  std::shared_ptr<FileStore> files_;
  std::size_t keep_;
};

}  // namespace hitl::service
