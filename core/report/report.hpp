#pragma once
// The five operating metrics of one domain, computed from stored facts only (decisions, their
// review tasks and reviews), so a report can be recomputed at any time for any window and
// matches what storage says. Definitions, formulas and the JSON shape: docs/report.md.
//
// Three steps, kept apart so the arithmetic is testable without storage:
//   load_facts  pages through sdk::Storage and collects one window's cohort;
//   compute     turns facts into plain numbers (no I/O, no clock: `now_ms` is a parameter);
//   build       does both in one streamed pass in bounded memory (what the service and
//               `hitl report` use: a window of any size);
//   to_json / to_table render a Report (nlohmann/json stays in the .cpp: only json_fwd here).
#include <hitl/plugin_api.hpp>

#include "report/capture.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hitl::report {

// A ratio that is undefined (null in JSON, "-" in the table) when its denominator is 0.
using Rate = std::optional<double>;

// The domain's configured group attribute for the bias metrics.
struct GroupSpec {
  std::string field;          // "" = no bias section. "Age" reads input.Age; "meta.segment" reads meta.segment
  std::vector<double> bands;  // strictly ascending cut points for numeric values, {25, 40, 60} ->
                              // "<25", "25-40", "40-60", ">=60"; empty = the value itself is the group
};
struct CostSpec {
  double reviewer_per_hour = 0;  // what an hour of reviewer work costs
  double per_prediction = 0;     // what serving one prediction costs
};
struct Settings {
  GroupSpec group;
  CostSpec cost;
};

// [from_ms, to_ms) on created_ms; 0 = unbounded on that side.
struct Window {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  bool contains(std::int64_t t) const noexcept { return (from_ms == 0 || t >= from_ms) && (to_ms == 0 || t < to_ms); }
};

// The window of equal length right before w.from_ms (an unbounded to_ms counts as now_ms); none
// when w.from_ms is unbounded or the window is empty. The service's default baseline.
std::optional<Window> default_baseline(Window w, std::int64_t now_ms);

// Everything the report reads, for one domain.
struct Facts {
  std::vector<sdk::DecisionRecord> decisions;  // those created in the window
  std::vector<sdk::TaskRecord> tasks;          // the tasks of those decisions
  std::vector<sdk::ReviewRecord> reviews;      // the reviews of those tasks
};

// Pages through storage (`page_size` per call, cursors) and collects the facts of the decisions
// of `domain` created in `w`. with_payload = false skips input/meta (enough when no group
// attribute is configured). Throws std::runtime_error naming the failing call on a storage
// error, std::invalid_argument for page_size 0.
Facts load_facts(sdk::Storage& storage, const std::string& domain, Window w, bool with_payload = true,
                 std::size_t page_size = 1000);

// ---------------------------------------------------------------------------------------------
// The report: plain numbers. Counts are exact; rates are doubles in 0..1 (gains and drifts are
// differences of rates, so -1..1).

struct ReasonCount {
  std::string reason;  // "(none)" for an empty reason
  std::int64_t count = 0;
  Rate rate;  // count / predictions
};

struct Sla {
  std::int64_t with_deadline = 0;  // completed tasks with deadline_ms > 0
  std::int64_t met = 0;            // ... completed at or before the deadline
  std::int64_t breached = 0;       // with_deadline - met
  Rate compliance;                 // met / with_deadline
  std::int64_t open_breached = 0;  // open (not completed/cancelled) tasks past their deadline at now_ms
};

struct Turnaround {  // seconds from task creation to completion, over completed tasks
  std::int64_t completed = 0;
  std::optional<double> mean_s, p50_s, p95_s, max_s;  // nearest-rank percentiles; none when completed = 0
  Sla sla;
};

struct Accuracy {  // over decisions with a known truth
  std::int64_t cases = 0;
  std::int64_t reviewed_cases = 0;   // truth from a human outcome only (no reported truth)
  std::int64_t reported_truths = 0;  // truth_label reported
  Rate final_accuracy;               // delivered label == truth
  Rate model_accuracy;               // model label == truth
  Rate gain;                         // final_accuracy - model_accuracy
};

// The reason of a review task that is an audit sample: ingest gives it, the report reads it.
inline constexpr std::string_view kAuditReason = "audit";

// Audit samples (the policy's audit_rate): automatic decisions a person checked anyway, a random
// share of what the model decided alone, so unlike `accuracy` (the reviewed, unsure slice) they
// estimate the model on the automatic traffic.
struct AuditEstimate {
  std::int64_t samples = 0;      // audit decisions with a human outcome
  std::int64_t model_right = 0;  // of them, those whose outcome kept the model's label
  Rate model_accuracy;           // model_right / samples
  Rate ci95_low, ci95_high;      // Wilson score interval at 95%
};

// Accuracy over all the window's traffic, not only what people saw (docs/report.md, 3c). The
// decisions fall in three parts: flagged for a real reason (reviewed: each one's truth is known,
// a census), automatic (auto-approved, and the audit samples drawn from them: estimated from
// those samples) and the rest (rejected, or flagged without a truth yet: not covered). The audit
// samples are weighted self-normalised by 1/p, p being the share of their policy version's
// automatic decisions that were drawn (post-stratified by policy_hash).
struct TrafficEstimate {
  Rate accuracy;             // null when the automatic part has no audit sample, or nothing is covered
  Rate ci95_low, ci95_high;  // the samples' Wilson interval at Kish's effective size, mapped to the whole
};
struct Estimates {
  std::int64_t reviewed = 0;         // flagged (not audit) decisions with a truth: counted as they are
  std::int64_t automatic = 0;        // auto-approved + audit decisions of policy versions with samples
  std::int64_t samples = 0;          // audit samples with a truth behind the automatic part
  double effective_samples = 0;      // Kish's effective sample size of the weighted samples
  std::int64_t not_covered = 0;      // rejected, flagged without truth, automatic of versions without samples
  TrafficEstimate model;             // the model's label right
  TrafficEstimate system;            // what was delivered right (a person's label on the reviewed part)
  // The top score's capture curve over the same rows, weighted alike (docs/report.md, 3d): the
  // share of the model's errors that reviewing the least confident 5..30% would catch.
  std::vector<CaptureCurve> capture;
};

struct GroupStats {
  std::string name;  // a band, the value itself, or "(missing)"
  std::int64_t predictions = 0;
  std::int64_t flagged = 0;
  Rate flag_rate;
  std::int64_t cases = 0;         // known truth
  std::int64_t model_errors = 0;  // model label != truth
  Rate error_rate;                // model_errors / cases
};

struct BiasSide {
  std::vector<GroupStats> groups;  // band order (or by name), "(missing)" last
  Rate flag_rate_disparity;        // max - min flag_rate over groups with predictions > 0
  Rate error_rate_disparity;       // max - min error_rate over groups with cases > 0
};

struct Bias {
  std::string attribute;
  std::vector<double> bands;
  BiasSide current;
  std::optional<Window> baseline_window;  // set when baseline facts were given
  std::optional<BiasSide> baseline;
  Rate flag_rate_drift;   // current - baseline flag_rate_disparity
  Rate error_rate_drift;  // current - baseline error_rate_disparity
};

struct Cost {
  std::int64_t reviews = 0;
  double reviewer_seconds = 0;
  double reviewer_cost = 0;  // reviewer_seconds / 3600 * reviewer_per_hour
  double system_cost = 0;    // predictions * per_prediction
  std::int64_t corrections = 0;
  Rate cost_per_correction;  // (reviewer_cost + system_cost) / corrections (not a rate, but as undefined at 0)
  std::int64_t reviews_without_start = 0;
};

// One policy version (by its hash) or one model version: its share of the traffic in the window.
struct VersionRow {
  std::string version;  // the policy's hash, or the model's version string
  std::int64_t first_ms = 0, last_ms = 0;  // first and last created_ms seen with this hash
  std::int64_t predictions = 0, flagged = 0;
  Rate flag_rate;
  Accuracy accuracy;
};

struct Report {
  std::string domain;
  Window window;
  std::int64_t generated_ms = 0;
  std::int64_t predictions = 0, auto_approved = 0, flagged = 0, rejected = 0;
  Rate flag_rate;
  std::vector<ReasonCount> flag_reasons;  // by count, descending, then by reason
  Turnaround turnaround;
  Accuracy accuracy;
  AuditEstimate audit;
  Estimates estimated;  // over all traffic
  std::optional<Bias> bias;  // set when Settings.group.field is
  Cost cost;
  std::vector<VersionRow> by_policy;  // by first_ms, then hash
  // By the model version that scored each decision, in the same order: the review share each
  // model's confidence spread gave under the policies in force (what moves at a promotion).
  std::vector<VersionRow> by_model;
};

// Computes the report of `domain` over the facts of window `w` (records outside it, and tasks and
// reviews not of its decisions, are ignored). `baseline` (may be null) holds the facts of
// `baseline_window`, read only for the bias drift. `now_ms` dates the report and decides which
// open tasks are past their deadline. Throws std::invalid_argument for bands not strictly ascending.
Report compute(const std::string& domain, const Facts& facts, const Facts* baseline, const Settings& s, Window w,
               Window baseline_window, std::int64_t now_ms);

// The same report read straight from storage in bounded memory: decisions, tasks and reviews are
// read in pages of `page_size` and folded into counters as they come (report/stream.cpp), so
// memory grows with the number of flag reasons, policy versions and groups, not of decisions.
// `baseline` (the baseline window) is read only for the bias drift. Figures equal
// compute(load_facts(...)), except that a turnaround percentile may be off by under 0.1 % when
// distinct turnarounds share a histogram bin (docs/report.md). Throws like load_facts and compute.
Report build(sdk::Storage& storage, const std::string& domain, const Settings& s, Window w,
             std::optional<Window> baseline, std::int64_t now_ms, std::size_t page_size = 1000);

// The group of one attribute value under `spec`: a band name for numbers when the spec has bands
// ("<25", "25-40", ">=60"), else the value itself; "(missing)" for a missing (null) value, an
// object or an array. Also used by model evaluation's per-group metrics (core/evaluation).
std::string group_of_value(const nlohmann::json* value, const GroupSpec& spec);
// Where a group attribute is read: "Age" is input.Age, "meta.segment" is meta.segment.
struct GroupField {
  bool in_meta = false;
  std::string key;
};
GroupField group_field(const GroupSpec& spec);
// The truth of a decision: the reported truth, else the label a human settled on, else none.
std::optional<std::string> truth_of(const sdk::DecisionRecord& d);
// What the system delivered: the human's label once there is one, else the model's.
const std::string& delivered_label(const sdk::DecisionRecord& d);
// The band names of `bands` in order: {25, 40} -> "<25", "25-40", ">=40"; none for no bands.
std::vector<std::string> band_names(const std::vector<double>& bands);

nlohmann::json to_json(const Report& r);  // the body of GET /v1/domains/{d}/report
std::string to_table(const Report& r);    // the readable table `hitl report` prints

}  // namespace hitl::report
