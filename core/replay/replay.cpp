#include "replay/replay.hpp"

#include "policy/policy_cases.hpp"
#include "common/task_state.hpp"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace hitl::replay {
using nlohmann::json;

const char* route_name(Route r) {
  switch (r) {
    case Route::automatic: return "auto";
    case Route::review: return "review";
    case Route::reject: return "reject";
  }
  return "review";
}

void Side::add(const Routing& r, const std::optional<bool>& model_right, bool policy_error) {
  ++records;
  if (policy_error) ++policy_errors;
  if (r.route == Route::review) ++review;
  if (r.route == Route::reject) ++reject;
  if (r.route != Route::automatic) ++reasons[r.reason];
  if (!model_right) return;
  ++with_truth;
  if (*model_right) return;
  ++model_errors;
  if (r.route == Route::automatic)
    ++errors_missed;
  else
    ++errors_caught;
}

Replay::Replay(policy::PolicyEngine& candidate, policy::PolicyEngine* current, std::string domain,
               report::GroupSpec group)
    : candidate_(candidate), current_(current), domain_(std::move(domain)), group_(std::move(group)) {
  report_.domain = domain_;
  report_.group_field = group_.field;
}

Routing routing_of(const policy::Verdict& v) {
  Routing out;
  out.reason = v.reason;
  if (v.judge) return out;
  if (v.action == policy::Action::auto_approve) out.route = Route::automatic;
  if (v.action == policy::Action::reject) out.route = Route::reject;
  return out;
}

namespace {
constexpr std::size_t kRouteChanges = kRouteCount * (kRouteCount - 1);

// Route changes first, in (from, to) order without the diagonal.
std::size_t route_change_index(Route from, Route to) {
  const auto f = static_cast<std::size_t>(from), t = static_cast<std::size_t>(to);
  return f * (kRouteCount - 1) + (t < f ? t : t - 1);
}
}  // namespace

const std::vector<std::string>& difference_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> k(kRouteChanges);
    for (std::size_t f = 0; f < kRouteCount; ++f)
      for (std::size_t t = 0; t < kRouteCount; ++t)
        if (f != t)
          k[route_change_index(Route(f), Route(t))] = std::string(route_name(Route(f))) + "->" + route_name(Route(t));
    k.push_back("reason_changed");
    k.push_back("priority_changed");
    return k;
  }();
  return kinds;
}

std::optional<std::size_t> difference_of(const Answer& before, const Answer& after) {
  const Routing& a = before.routing;
  const Routing& b = after.routing;
  if (a.route != b.route) return route_change_index(a.route, b.route);
  if (a.reason != b.reason) return kRouteChanges;
  if (a.route == Route::review && before.priority && after.priority && std::abs(*before.priority - *after.priority) > 1e-9)
    return kRouteChanges + 1;
  return std::nullopt;
}

// The routing a policy gives the record.
Routing Replay::route_of(policy::PolicyEngine& engine, const Record& r, bool& policy_error) {
  policy::FlagInput in{&domain_, &r.input, &r.meta, &r.prediction};
  const policy::Verdict v = engine.flag(domain_, in);
  policy_error = v.policy_error;
  return routing_of(v);
}

std::string Replay::group_of(const Record& r) const {
  const report::GroupField field = report::group_field(group_);
  const json& doc = field.in_meta ? r.meta : r.input;
  const json* value = nullptr;
  if (doc.is_object()) {
    auto it = doc.find(field.key);
    if (it != doc.end()) value = &*it;
  }
  return report::group_of_value(value, group_);
}

void Replay::add(const Record& r) {
  bool current_error = false, candidate_error = false;
  const Routing before = current_ ? route_of(*current_, r, current_error) : r.recorded.value_or(Routing{});
  const Routing after = route_of(candidate_, r, candidate_error);
  std::optional<bool> model_right;
  if (r.truth) model_right = r.prediction.label == *r.truth;
  report_.current.add(before, model_right, current_error);
  report_.candidate.add(after, model_right, candidate_error);
  if (before.route != after.route) {
    auto& change = report_.changes[static_cast<std::size_t>(before.route)][static_cast<std::size_t>(after.route)];
    ++change.count;
    if (change.examples.size() < kExamplesPerChange) change.examples.push_back(r.id);
  }
  if (group_.field.empty()) return;
  auto& g = report_.groups[group_of(r)];
  g.first.add(before, model_right, current_error);
  g.second.add(after, model_right, candidate_error);
}

namespace {

std::optional<Routing> routing_of_status(const std::string& status, const std::string& reason) {
  const auto state = service::decision_state(status);
  if (!state) return std::nullopt;
  switch (*state) {
    case service::DecisionState::auto_approved: return Routing{Route::automatic, ""};
    case service::DecisionState::rejected: return Routing{Route::reject, reason};
    case service::DecisionState::pending_review: return Routing{Route::review, reason};
  }
  return std::nullopt;
}

}  // namespace

Record record_of_decision(const sdk::DecisionRecord& d) {
  Record r;
  r.id = d.id;
  r.input = json::parse(d.input_json, nullptr, false);
  r.meta = json::parse(d.meta_json.empty() ? "{}" : d.meta_json, nullptr, false);
  if (!r.input.is_object()) throw std::invalid_argument("stored input is not an object");
  if (r.meta.is_discarded()) r.meta = json::object();
  r.prediction = policy::prediction_view_of(json::parse(d.prediction_json, nullptr, false));
  r.recorded = routing_of_status(d.status, d.reason);
  if (!r.recorded) throw std::invalid_argument("unknown decision status " + d.status);
  r.truth = report::truth_of(d);
  return r;
}

Record record_of_line(const json& line) {
  if (!line.is_object()) throw std::invalid_argument("not a JSON object");
  if (!line.contains("input") || !line["input"].is_object()) throw std::invalid_argument("\"input\" missing");
  Record r;
  r.id = line.contains("id") && line["id"].is_string() ? line["id"].get<std::string>() : std::string();
  r.input = line["input"];
  r.meta = line.value("meta", json::object());
  r.prediction = policy::prediction_view_of(line.value("prediction", json()));
  if (line.contains("truth") && line["truth"].is_string()) r.truth = line["truth"].get<std::string>();
  return r;
}

}  // namespace hitl::replay
