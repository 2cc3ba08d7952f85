// The event loop of `hitl simulate`: arrivals at the configured rate and reviewers' answers, in
// time order, on a frozen service clock. After every move of the clock the housekeeping jobs due
// then run (lease expiry, model reload, SLA checks: the same table as `hitl serve`) and the retrain
// worker is given the time to ask retrain(stats) and train (RetrainWorker::settle), so what the
// loop decides depends only on the seed, not on how fast this machine is.
#include "simulate/simulate.hpp"

#include "app/app.hpp"
#include "app/housekeeping.hpp"
#include "app/startup.hpp"
#include "common/clock.hpp"
#include "common/service_error.hpp"
#include "data/records.hpp"
#include "dataset/gold.hpp"
#include "governance/auth.hpp"
#include "ingest/pipeline.hpp"
#include "learning/retrain_worker.hpp"
#include "review/review.hpp"
#include "review/reviewers.hpp"
#include "simulate/figures.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <random>
#include <stdexcept>
#include <unordered_map>

namespace hitl::simulate {
using nlohmann::json;

namespace {

// 2026-01-01T00:00:00Z: every run starts at the same simulated moment.
constexpr std::int64_t kStartMs = 1'767'225'600'000;
constexpr std::size_t kSeriesSteps = 50;
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// Answers lost (409: the lease ran out, the task moved on), one after another, before the run
// stops: no task can be done.
constexpr std::int64_t kMaxLossesInARow = 1000;

struct Reviewer {
  service::Principal who;
  std::optional<service::ClaimedTask> task;  // the one in hand
  std::int64_t answer_at_ms = kNever;
  std::int64_t renew_at_ms = kNever;  // a long case: the lease is renewed, as the web UI does
};

// Thaws the clock however the run ends.
struct FrozenClock {
  FrozenClock() { freeze_clock_ms(kStartMs); }
  ~FrozenClock() { freeze_clock_ms(std::nullopt); }
};

class Run {
 public:
  Run(service::App& app, const Options& o, const std::vector<LabelledRow>& rows)
      : app_(app), o_(o), rows_(rows), rng_(o.seed), housekeeping_(service::housekeeping_jobs(app)) {
    for (std::size_t i = 0; i < rows.size(); ++i) row_of_[rows[i].id] = i;
    log_.start_ms = kStartMs;
    step_ = std::max<std::size_t>(1, (rows.size() + kSeriesSteps - 1) / kSeriesSteps);
  }

  RunLog go(const Progress& progress) {
    service::seed_generator(o_.seed * 0x9E3779B97F4A7C15ull + 1);  // gold draws on this thread
    start_like_serve();
    add_reviewers();
    housekeeping_.schedule_from(kStartMs);
    app_.retrain().start();
    advance(kStartMs);
    std::size_t next = 0;
    for (;;) {
      const std::int64_t arrival = next < rows_.size() ? arrival_ms(next) : kNever;
      const std::int64_t reviewer_event = next_reviewer_event_ms();
      if (arrival == kNever && reviewer_event == kNever) break;
      if (reviewer_event < arrival) {
        advance(reviewer_event);
        reviewers_due();
      } else {
        advance(arrival);
        arrive(next++);
        if (progress) progress(next, rows_.size());
      }
      claim_for_idle();
    }
    app_.retrain().settle();
    log_.jobs = app_.retrain().status(o_.domain).value("jobs", json::array());
    app_.retrain().stop();
    log_.end_ms = now_ms();
    log_.open_at_end = queue_depth();
    return log_;
  }

 private:
  std::int64_t arrival_ms(std::size_t i) const {
    return kStartMs + static_cast<std::int64_t>(static_cast<double>(i) * 1000.0 / o_.rate);
  }

  std::int64_t next_reviewer_event_ms() const {
    std::int64_t t = kNever;
    for (auto& r : reviewers_) t = std::min({t, r.answer_at_ms, r.renew_at_ms});
    return t;
  }

  // Half a lease: a renewal always comes before the lease runs out.
  std::int64_t renew_every_ms() const { return app_.config().domains.at(o_.domain).lease_seconds * 500; }

  // What `hitl serve` does before and right after it answers: the start audited, leases agreed
  // with storage, and the open-task walk whose end lets the SLA checks see new tasks.
  void start_like_serve() {
    service::recover_at_start(app_);
    const std::atomic<bool> stop{false};
    app_.review().requeue_open_tasks(stop);
  }

  // Registered like people would be: one task at a time, the domain only. Each may also
  // adjudicate (the adjudicator pool), so a consensus task whose answers differ is decided by
  // another reviewer instead of waiting for a pool nobody is in.
  void add_reviewers() {
    for (int i = 1; i <= o_.reviewers; ++i) {
      sdk::ReviewerRecord rec;
      rec.id = rec.name = "sim-reviewer-" + std::to_string(i);
      rec.roles = "reviewer,adjudicator";
      rec.domains = o_.domain;
      app_.reviewers().put(rec, "simulate");
      reviewers_.push_back({service::Principal{rec.id, service::Role::reviewer, {o_.domain}}, std::nullopt, kNever});
    }
  }

  void advance(std::int64_t t) {
    freeze_clock_ms(t);
    housekeeping_.run_due(t);
    app_.retrain().settle();
  }

  void arrive(std::size_t i) {
    std::vector<service::IngestRecord> batch(1);
    batch[0].id = rows_[i].id;
    batch[0].input = rows_[i].input;
    batch[0].meta = json::object();
    std::promise<sdk::Status> committed;
    app_.pipeline().ingest(o_.domain, std::move(batch), "simulate",
                           [&committed](const sdk::Status& st, std::vector<service::IngestResult>&) { committed.set_value(st); });
    if (auto st = committed.get_future().get(); !st.ok())
      throw std::runtime_error("record " + rows_[i].id + " was not stored: " + st.message);
    if ((i + 1) % step_ == 0 || i + 1 == rows_.size()) sample(i + 1);
  }

  std::int64_t queue_depth() {
    sdk::QueueDepth depth;
    if (auto st = app_.queue().depth(o_.domain, now_ms(), depth); !st.ok())
      throw std::runtime_error("cannot read the queue depth: " + st.message);
    return depth.ready + depth.leased;
  }

  void sample(std::size_t records_so_far) { log_.samples.push_back({records_so_far, now_ms(), queue_depth()}); }

  // Idle reviewers take the best ready task, in a fixed order (deterministic).
  void claim_for_idle() {
    for (auto& r : reviewers_) {
      if (r.task) continue;
      std::optional<service::ClaimedTask> claimed;
      try {
        claimed = app_.review().next(o_.domain, r.who);
      } catch (const service::ServiceError&) {
        continue;  // capacity or fatigue: this reviewer waits for the next event
      }
      if (!claimed) continue;  // nothing this reviewer may take (four-eyes may let the next one)
      r.answer_at_ms = now_ms() + draw_ms(o_.handle_time, rng_);
      r.renew_at_ms = now_ms() + renew_every_ms();
      r.task = std::move(claimed);
    }
  }

  void reviewers_due() {
    const std::int64_t now = now_ms();
    for (auto& r : reviewers_) {
      if (r.task && r.answer_at_ms == now) answer(r);
      else if (r.task && r.renew_at_ms == now) renew(r);
    }
    app_.retrain().settle();
  }

  // A queue without renewal (before queue 1.1) answers 501: the lease may then run out.
  void renew(Reviewer& r) {
    try {
      app_.review().renew(r.task->task.task_id, r.who);
      r.renew_at_ms = now_ms() + renew_every_ms();
    } catch (const service::ServiceError&) {
      r.renew_at_ms = kNever;
    }
  }

  std::string truth_of(const service::ClaimedTask& c) const {
    if (c.task.gold) return c.task.gold_label;
    auto it = row_of_.find(c.decision.id);
    if (it == row_of_.end()) throw std::runtime_error("a review task for an unknown record " + c.decision.id);
    return rows_[it->second].truth;
  }

  // The true label with chance reviewer_accuracy, else one of the other labels.
  std::string pick_label(const std::string& truth) {
    const auto& labels = app_.config().domains.at(o_.domain).labels;
    if (std::bernoulli_distribution(o_.reviewer_accuracy)(rng_) || labels.size() < 2) return truth;
    std::vector<std::string> wrong;
    for (auto& l : labels)
      if (l != truth) wrong.push_back(l);
    return wrong[std::uniform_int_distribution<std::size_t>(0, wrong.size() - 1)(rng_)];
  }

  void answer(Reviewer& r) {
    const service::ClaimedTask c = std::move(*r.task);
    r.task.reset();
    r.answer_at_ms = r.renew_at_ms = kNever;
    const std::string truth = truth_of(c);
    const std::string label = pick_label(truth);
    service::OutcomeRequest req;
    req.task_id = c.task.task_id;
    req.outcome = label == c.decision.label ? "approve" : "correct";
    if (req.outcome == "correct") req.correction_label = label;
    try {
      app_.review().submit(req, r.who);
    } catch (const service::ServiceError& e) {
      if (e.status != 409) throw;
      // The task moved on while the reviewer worked: the lease ran out, or an escalation
      // cancelled it or moved it to another pool. The answer is lost, as a person's would be.
      ++log_.lost_answers;
      if (++losses_in_a_row_ > kMaxLossesInARow)
        throw std::runtime_error("the reviewers keep losing their leases: --handle-time is longer than the lease and "
                                 "the queue cannot renew one");
      return;
    }
    losses_in_a_row_ = 0;
    if (c.task.gold) {
      ++log_.gold_answers;
      if (label == truth) ++log_.gold_right;
    }
  }

  service::App& app_;
  const Options& o_;
  const std::vector<LabelledRow>& rows_;
  std::unordered_map<std::string, std::size_t> row_of_;
  std::vector<Reviewer> reviewers_;
  std::mt19937_64 rng_;
  service::Scheduler housekeeping_;
  std::size_t step_ = 1;
  std::int64_t losses_in_a_row_ = 0;
  RunLog log_;
};

// The model in force at the start on every row: the baseline each later version is held to.
std::vector<sdk::Prediction> first_predictions(service::App& app, const std::string& domain,
                                              const std::vector<LabelledRow>& rows) {
  const auto& name = app.config().domains.at(domain).model;
  auto model = name.empty() ? nullptr : app.model(name);
  if (!model) throw std::runtime_error("domain \"" + domain + "\" has no model: simulate streams records without predictions");
  std::vector<sdk::Record> records;
  records.reserve(rows.size());
  for (auto& r : rows) records.push_back(data::record_from_json(r.input));
  std::vector<sdk::Prediction> out;
  if (auto st = model->predict(records, out); !st.ok() || out.size() != rows.size())
    throw std::runtime_error("the model cannot score the stream: " + st.message);
  return out;
}

}  // namespace

Result run(service::App& app, const Options& o, const std::vector<LabelledRow>& rows, const Progress& progress) {
  if (!(o.rate > 0)) throw std::runtime_error("--rate must be above 0");
  if (o.reviewers < 1) throw std::runtime_error("--reviewers must be at least 1");
  if (!(o.reviewer_accuracy >= 0 && o.reviewer_accuracy <= 1)) throw std::runtime_error("--reviewer-accuracy must be in [0, 1]");
  const auto wall_start = std::chrono::steady_clock::now();
  const auto first = first_predictions(app, o.domain, rows);
  RunLog log;
  {
    FrozenClock clock;
    log = Run(app, o, rows).go(progress);
  }
  Result r = score(app, o, rows, first, log);
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return r;
}

}  // namespace hitl::simulate
