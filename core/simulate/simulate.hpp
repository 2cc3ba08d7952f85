#pragma once
// `hitl simulate` (docs/simulate.md): a labelled data set streamed in order through a real
// service instance (App: the pipeline, the review workflow, the retrain worker, the housekeeping
// jobs), with simulated reviewers, on a frozen clock that only the simulation moves, so a run
// takes seconds for days of traffic and is the same for the same seed.
//
// The steps: read_stream (the rows and their true labels), sandbox_config (the config rewritten
// so the run writes only below its work folder), run (the event loop, simulate.cpp), figures
// (what storage holds at the end, scored against the truth, figures.cpp) and the renderings
// (render.cpp).
#include "config/service_config.hpp"
#include "plugin/plugin_registry.hpp"
#include "report/report.hpp"
#include "simulate/handle_time.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service { class App; }

namespace hitl::simulate {

struct Options {
  std::string domain;
  int reviewers = 3;
  double reviewer_accuracy = 0.95;  // chance a reviewer answers the true label
  HandleTime handle_time;           // how long one review takes (handle_time.hpp)
  double rate = 0.05;               // records per simulated second
  std::uint64_t seed = 1;
  std::optional<double> review_target;  // the review share the policy aims at, to compare with
};

// One row of the labelled stream: its id ("<file stem>:<row>"), its input, its true label.
struct LabelledRow {
  std::string id;
  nlohmann::json input;
  std::string truth;
};

// Reads `file` (CSV with a header), takes `label` out of each row as its truth (one of `labels`)
// and keeps the first `limit` rows (0 = all). Throws std::runtime_error naming the file and row.
std::vector<LabelledRow> read_stream(const std::filesystem::path& file, const std::string& label,
                                     const std::vector<std::string>& labels, std::size_t limit);

// `cfg` reduced to `domain` and rewritten so the simulated instance writes only below `work_dir`:
// storage and queue path options name work_dir/simulation.db, the dataset and registry folders
// are in it, each model the domain uses is copied there (promotions replace the copy, never the
// original), and a webhook is dropped. Throws std::runtime_error when the storage or queue
// plugin has no path option (nothing else could keep a run away from live data).
config::ServiceConfig sandbox_config(config::ServiceConfig cfg, const plugin::Registry& plugins,
                                     const std::string& domain, const std::filesystem::path& work_dir);

// A model version and how it did on the records it scored while it was live, beside the first
// model on the same records (a promotion is worth it when it beats the first model there).
struct VersionFigures {
  std::string model_version;
  std::size_t first_record = 0, records = 0;
  std::optional<double> auc, first_model_auc;  // binary label sets; none otherwise
  double accuracy = 0, first_model_accuracy = 0;
};

// One training the loop ran, and what became of its candidate.
struct Training {
  double hours = 0;                 // simulated hours since the start, when it was queued
  std::string trigger, status;      // policy | manual; done | failed
  std::string candidate_version;    // "" when it failed before training
  bool promoted = false;
  std::string decision;             // why it was (not) promoted, or the error
};

// A model swap during the run (a promotion, or a rollback to a version live earlier), judged on
// the records the new model decided while it was live against the model it replaced, scored on
// the same records (promotions.hpp).
struct JudgedSwap {
  std::string from_version, to_version;  // the model_version before and after the swap
  std::string from_id, to_id;            // their registry ids ("" when none has that version)
  bool rollback = false;                 // to_version had been live earlier in the run
  std::size_t first_record = 0, records = 0;
  double from_accuracy = 0, to_accuracy = 0;
  std::size_t to_only_right = 0, from_only_right = 0;  // the discordant records
  double p_value = 1;               // McNemar's one-sided mid-p that the new model is worse
  bool worse_beyond_noise = false;  // p_value below 1 - kJudgeConfidence (0.05)
  std::string not_judged;           // why the swap could not be judged; "" when it was
};

// One step of the time series: the records that arrived in it.
struct Point {
  double hours = 0;  // simulated hours since the start, at the step's end
  std::size_t records = 0;
  double flag_rate = 0, system_accuracy = 0, model_accuracy = 0;
  std::optional<double> auc;  // of the live model(s) on the step's records (binary only)
  std::string model_version;  // the live one at the step's end
  std::int64_t queue_depth = 0;  // tasks ready or leased at the step's end
};

// What one step of the stream leaves behind for the series (queue depth, live model).
struct StepSample {
  std::size_t records_so_far = 0;
  std::int64_t at_ms = 0;
  std::int64_t queue_depth = 0;
};

struct Result {
  Options options;
  std::string handle_time;  // as given
  std::size_t records = 0, flagged = 0, reviewed = 0, auto_handled = 0, corrections = 0;
  double flag_rate = 0, reviewed_share = 0, auto_share = 0;
  double system_accuracy = 0, model_accuracy = 0;  // delivered label (auto + human) vs the model's alone
  std::optional<double> sla_met;                   // completed reviews within their deadline
  std::int64_t sla_breached = 0, open_tasks_at_end = 0;
  double reviewer_hours = 0;
  std::optional<double> cost_per_correction;  // reviewer and serving cost / corrected predictions
  std::int64_t gold_answers = 0, gold_right = 0, lost_answers = 0;
  std::int64_t trainings = 0, promotions = 0;
  std::vector<Training> training_runs;  // oldest first (the worker keeps the last 20)
  std::string positive;  // the class AUC ranks by
  std::vector<VersionFigures> versions;
  std::vector<JudgedSwap> promotions_judged;  // every swap, in order
  std::vector<Point> series;
  // What the report estimates over the run from the audit samples and the reviewed cases, to set
  // beside system_accuracy and model_accuracy, the true figures.
  report::Estimates estimated;
  // Each signal's capture curve on the stream (every record's truth known), and the policy's own:
  // the model's errors among the flagged records.
  std::vector<report::CaptureCurve> capture;
  std::optional<double> policy_capture;  // null when the model made no error
  double simulated_hours = 0;
  double wall_seconds = 0;  // the only figure that differs between two runs of one seed
};

// Called with the records streamed so far and the total (a progress bar).
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// Streams `rows` through `app` (built from a sandbox_config) at o.rate records per simulated
// second, with o.reviewers reviewers, until every row is in and no reviewer can take a task.
// Freezes the service clock for the run (and thaws it after). Throws std::runtime_error.
Result run(service::App& app, const Options& o, const std::vector<LabelledRow>& rows, const Progress& progress = {});

nlohmann::json to_json(const Result& r);
std::string to_text(const Result& r);  // the closing table
std::string to_html(const Result& r);  // one self-contained page: figures and time series (inline SVG)

}  // namespace hitl::simulate
