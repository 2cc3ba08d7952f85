#include "learning/retrain_jobs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace hitl::service {
using nlohmann::json;

namespace {
constexpr const char* kStateNames[] = {"queued", "running", "done", "failed", "cancelled"};

std::optional<JobState> state_named(const std::string& name) {
  for (std::size_t i = 0; i < std::size(kStateNames); ++i)
    if (name == kStateNames[i]) return static_cast<JobState>(i);
  return std::nullopt;
}

// Ids padded to one width, so the names sort as the numbers do.
std::string id_name(std::int64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%019lld", static_cast<long long>(id));
  return buf;
}

std::optional<std::int64_t> parse_id(const std::string& text) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0) return std::nullopt;
  return v;
}

std::string job_file(std::int64_t id) { return "jobs/" + id_name(id); }
std::string queued_marker(const std::string& domain) { return "queued/" + domain; }
std::string running_marker(const std::string& domain) { return "running/" + domain; }
std::string done_folder(const std::string& domain) { return "done/" + domain; }

std::int64_t ms_or_zero(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}
}  // namespace

const char* name_of(JobState s) { return kStateNames[static_cast<std::size_t>(s)]; }

json to_json(const RetrainJob& j) {
  json out = {{"id", j.id},
              {"domain", j.domain},
              {"trigger", j.trigger},
              {"reason", j.reason},
              {"promote", j.promote},
              {"status", name_of(j.status)},
              {"created_ms", j.created_ms},
              {"started_ms", j.started_ms ? json(j.started_ms) : json()},
              {"finished_ms", j.finished_ms ? json(j.finished_ms) : json()}};
  if (!j.error.empty()) out["error"] = j.error;
  if (j.result) out["result"] = *j.result;
  if (j.stats) out["stats"] = *j.stats;
  return out;
}

RetrainJob job_from_json(const json& j) {
  RetrainJob job;
  try {
    job.id = j.at("id").get<std::int64_t>();
    job.domain = j.at("domain").get<std::string>();
    job.trigger = j.at("trigger").get<std::string>();
    job.reason = j.at("reason").get<std::string>();
    job.promote = j.at("promote").get<bool>();
    const auto state = state_named(j.at("status").get<std::string>());
    if (!state) throw std::runtime_error("unknown status " + j.at("status").dump());
    job.status = *state;
    job.created_ms = j.at("created_ms").get<std::int64_t>();
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("not a retrain job: ") + e.what());
  }
  if (job.id <= 0 || job.domain.empty()) throw std::runtime_error("not a retrain job: no id or domain");
  job.started_ms = ms_or_zero(j, "started_ms");
  job.finished_ms = ms_or_zero(j, "finished_ms");
  if (auto it = j.find("error"); it != j.end() && it->is_string()) job.error = it->get<std::string>();
  if (auto it = j.find("result"); it != j.end()) job.result = std::make_shared<const json>(*it);
  if (auto it = j.find("stats"); it != j.end()) job.stats = std::make_shared<const json>(*it);
  return job;
}

RetrainJobs::RetrainJobs(std::shared_ptr<FileStore> files, std::size_t keep_per_domain)
    : files_(std::move(files)), keep_(std::max<std::size_t>(1, keep_per_domain)) {}

std::optional<RetrainJob> RetrainJobs::read_job(std::int64_t id) const {
  const std::string rel = job_file(id);
  const auto text = files_->read(rel);
  if (!text) return std::nullopt;
  const json j = json::parse(*text, nullptr, false);
  try {
    if (!j.is_object()) throw std::runtime_error("not JSON");
    auto job = job_from_json(j);
    if (job.id != id) throw std::runtime_error("its id is not its name's");
    return job;
  } catch (const std::exception& e) {
    throw std::runtime_error(files_->describe(rel) + ": " + e.what());
  }
}

std::optional<RetrainJob> RetrainJobs::marked(const std::string& marker, JobState state) const {
  const auto text = files_->read(marker);
  if (!text) return std::nullopt;
  const auto id = parse_id(*text);
  if (!id) return std::nullopt;  // a marker no writer of this code left: nothing it names
  auto job = read_job(*id);
  if (!job || job->status != state) return std::nullopt;
  return job;
}

void RetrainJobs::write_job(const RetrainJob& job) { files_->replace(job_file(job.id), to_json(job).dump()); }

RetrainJob RetrainJobs::add(RetrainJob job, std::int64_t now_ms, bool& queued) {
  const auto lock = files_->lock("");
  queued = false;
  if (auto busy = marked(queued_marker(job.domain), JobState::queued)) return *busy;
  if (auto busy = marked(running_marker(job.domain), JobState::running)) return *busy;
  // The id is taken first: a crash after it leaves a gap in the numbers, never two jobs on one.
  const auto last = files_->read("last-id");
  const std::int64_t id = (last ? parse_id(*last).value_or(0) : 0) + 1;
  files_->replace("last-id", std::to_string(id));
  job.id = id;
  job.status = JobState::queued;
  job.created_ms = now_ms;
  job.started_ms = job.finished_ms = 0;
  job.error.clear();
  job.result.reset();
  write_job(job);
  files_->replace(queued_marker(job.domain), std::to_string(id));  // last: now it is queued
  queued = true;
  return job;
}

std::optional<RetrainJob> RetrainJobs::find(std::int64_t id) const {
  if (id <= 0) return std::nullopt;
  return read_job(id);
}

// Under the lock: a job moving from queued to running or done is seen in one place, never none.
std::vector<RetrainJob> RetrainJobs::of_domain(const std::string& domain) const {
  const auto lock = files_->lock("");
  std::vector<RetrainJob> out;
  if (auto j = marked(queued_marker(domain), JobState::queued)) out.push_back(std::move(*j));
  if (auto j = marked(running_marker(domain), JobState::running)) out.push_back(std::move(*j));
  auto finished = files_->list(done_folder(domain));
  std::reverse(finished.begin(), finished.end());  // newest first
  for (const auto& name : finished) {
    const auto id = parse_id(name);
    if (!id) continue;
    if (auto j = read_job(*id); j && j->status != JobState::queued && j->status != JobState::running)
      out.push_back(std::move(*j));
  }
  return out;
}

bool RetrainJobs::active(const std::string& domain) const {
  return marked(queued_marker(domain), JobState::queued) || marked(running_marker(domain), JobState::running);
}

bool RetrainJobs::any_queued() const { return !files_->list("queued").empty(); }

std::optional<RetrainJob> RetrainJobs::start_next(std::int64_t now_ms) {
  const auto lock = files_->lock("");
  std::optional<RetrainJob> next;
  for (const auto& domain : files_->list("queued")) {
    auto job = marked(queued_marker(domain), JobState::queued);
    if (!job) {
      files_->remove(queued_marker(domain));  // stale: its job ended or never was written
      continue;
    }
    if (!next || job->id < next->id) next = std::move(job);
  }
  if (!next) return std::nullopt;
  next->status = JobState::running;
  next->started_ms = now_ms;
  write_job(*next);
  files_->replace(running_marker(next->domain), std::to_string(next->id));
  files_->remove(queued_marker(next->domain));
  return next;
}

void RetrainJobs::record_finished(const RetrainJob& job, const std::string& marker) {
  write_job(job);
  files_->replace(done_folder(job.domain) + "/" + id_name(job.id), "");
  if (const auto named = files_->read(marker); named && parse_id(*named) == job.id) files_->remove(marker);
  trim(job.domain);
}

void RetrainJobs::finish(const RetrainJob& job) {
  const auto lock = files_->lock("");
  record_finished(job, running_marker(job.domain));
}

std::optional<RetrainJob> RetrainJobs::cancel(std::int64_t id, const std::string& by, std::int64_t now_ms) {
  const auto lock = files_->lock("");
  auto job = find(id);
  if (!job) return std::nullopt;
  if (job->status == JobState::running)
    throw std::logic_error("job " + std::to_string(id) + " is running: a training cannot be stopped part-way");
  if (job->status != JobState::queued)
    throw std::logic_error("job " + std::to_string(id) + " is already " + name_of(job->status));
  job->status = JobState::cancelled;
  job->finished_ms = now_ms;
  job->error = "cancelled by " + by;
  record_finished(*job, queued_marker(job->domain));
  return job;
}

std::vector<RetrainJob> RetrainJobs::fail_running(std::int64_t now_ms) {
  const auto lock = files_->lock("");
  std::vector<RetrainJob> failed;
  for (const auto& domain : files_->list("running")) {
    auto job = marked(running_marker(domain), JobState::running);
    if (!job) {
      files_->remove(running_marker(domain));
      continue;
    }
    job->status = JobState::failed;
    job->finished_ms = now_ms;
    job->error = kRunnerStopped;
    record_finished(*job, running_marker(domain));
    failed.push_back(std::move(*job));
  }
  return failed;
}

void RetrainJobs::trim(const std::string& domain) {
  const auto finished = files_->list(done_folder(domain));  // oldest first
  if (finished.size() <= keep_) return;
  for (std::size_t i = 0; i + keep_ < finished.size(); ++i) {
    if (const auto id = parse_id(finished[i])) files_->remove(job_file(*id));
    files_->remove(done_folder(domain) + "/" + finished[i]);  // last: a crash leaves it to trim again
  }
}

}  // namespace hitl::service
