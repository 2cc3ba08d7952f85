#pragma once
// Replay (`hitl replay`, docs/policy-testing.md): a candidate policy run over past records beside
// the policy that routed them, with no side effects. What would change: flag rates, flags by
// reason, routing changes (auto -> review, ...), model errors caught and missed on the records
// whose truth is known, projected reviewer hours, the same per report group.
//
// Replay holds counters only (plus a few example ids per routing change), so its memory does not
// grow with the number of records.
#include "policy/policy_engine.hpp"
#include "report/report.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hitl::replay {

enum class Route { automatic, review, reject };
inline constexpr std::size_t kRouteCount = 3;
const char* route_name(Route r);  // "auto", "review", "reject"

struct Routing {
  Route route = Route::review;
  std::string reason;  // "" for auto
};

// The routing a verdict gives. hitl.judge(...) counts as review: replay and the shadow policy run
// no judge model, and review is where a judge step fails closed too.
Routing routing_of(const policy::Verdict& v);

// What differs between two policies' answers for one record, by kind: a route change
// ("auto->review", ... one kind per pair of different routes), else another reason on the same
// route ("reason_changed"), else another priority of the same review ("priority_changed"). Replay
// counts route changes in its table; the live shadow policy (ingest/shadow_policy.hpp) counts
// every kind.
struct Answer {
  Routing routing;
  std::optional<double> priority;  // of a review, when it was asked
};
const std::vector<std::string>& difference_kinds();
// The index in difference_kinds() of how `after` differs from `before`; none when they agree.
std::optional<std::size_t> difference_of(const Answer& before, const Answer& after);

// One past record.
struct Record {
  std::string id;
  nlohmann::json input, meta;
  policy::PredictionView prediction;
  std::optional<Routing> recorded;   // how it was routed when stored; none: run the current policy
  std::optional<std::string> truth;  // reported truth, else the label a human settled on
};

// What one policy did over the records.
struct Side {
  std::uint64_t records = 0, review = 0, reject = 0, policy_errors = 0;
  std::map<std::string, std::uint64_t> reasons;  // flags (review and reject) by reason
  // On records with a truth: the model's label was wrong, and the policy sent it to a person or
  // refused it (caught) or let it through (missed).
  std::uint64_t with_truth = 0, model_errors = 0, errors_caught = 0, errors_missed = 0;
  void add(const Routing& r, const std::optional<bool>& model_right, bool policy_error);
};

struct Change {
  std::uint64_t count = 0;
  std::vector<std::string> examples;  // the first few record ids
};

struct Report {
  std::string domain, current_name, candidate_name;
  Side current, candidate;
  std::array<std::array<Change, kRouteCount>, kRouteCount> changes;  // [current][candidate]
  std::string group_field;
  std::map<std::string, std::pair<Side, Side>> groups;  // by report group: current, candidate
  std::optional<double> handle_seconds;  // mean measured time a reviewer spends on a task
  std::uint64_t skipped = 0;             // records that could not be replayed (erased payload, ...)
};

class Replay {
 public:
  // `current` null: each record carries its recorded routing. Both engines hold `domain`.
  Replay(policy::PolicyEngine& candidate, policy::PolicyEngine* current, std::string domain, report::GroupSpec group);

  void add(const Record& r);
  void skip() { ++report_.skipped; }
  void set_handle_seconds(std::optional<double> s) { report_.handle_seconds = s; }
  Report& report() { return report_; }

 private:
  Routing route_of(policy::PolicyEngine& engine, const Record& r, bool& policy_error);
  std::string group_of(const Record& r) const;

  policy::PolicyEngine& candidate_;
  policy::PolicyEngine* current_;
  std::string domain_;
  report::GroupSpec group_;
  Report report_;
};

inline constexpr std::size_t kExamplesPerChange = 5;

// A record from a stored decision (payload present) or a line of a --data file.
Record record_of_decision(const sdk::DecisionRecord& d);
// {id, input, prediction, meta, truth}; throws std::invalid_argument naming what is missing.
Record record_of_line(const nlohmann::json& line);

// The report as JSON (--json), as a terminal table, and as one self-contained HTML page.
nlohmann::json to_json(const Report& r);
std::string to_text(const Report& r);
std::string to_html(const Report& r);

}  // namespace hitl::replay
