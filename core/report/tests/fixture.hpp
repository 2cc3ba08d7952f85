#pragma once
// Builders for hand-made records: only the fields the report reads are set, the rest keep the
// SDK defaults.
#include "report/report.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

namespace hitl::report::test {

inline constexpr std::int64_t T = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
inline constexpr std::int64_t SEC = 1'000;
inline constexpr std::int64_t MIN = 60 * SEC;
inline constexpr std::int64_t HOUR = 60 * MIN;
inline constexpr std::int64_t DAY = 24 * HOUR;

// The stream of fixture.cpp: its two policy hashes, window, baseline window and clock.
inline const std::string P1 = "f00dcafe1111aaaa";
inline const std::string P2 = "0badc0de2222bbbb";  // sorts before P1 but appears after it
inline constexpr Window W{T, T + DAY};
inline constexpr Window BW{T - DAY, T};
inline constexpr std::int64_t NOW = T + HOUR;
Facts current();   // the window's facts, plus records outside it that must be ignored
Facts baseline();  // the baseline window's facts
Settings settings();  // Age banded at {25, 40, 60}; 36 per reviewer hour, 0.02 per prediction

// Doubles are compared to the hand-computed value, up to rounding only.
inline Catch::Detail::Approx exact(double v) { return Catch::Detail::Approx(v).epsilon(1e-12).margin(1e-12); }

inline sdk::DecisionRecord decision(const std::string& id, const std::string& policy, std::int64_t created_ms,
                                    const std::string& status, const std::string& reason, const std::string& label,
                                    const std::string& input_json = "{}", std::int64_t task_id = 0) {
  sdk::DecisionRecord d;
  d.domain = "credit_risk";
  d.id = id;
  d.status = status;
  d.reason = reason;
  d.label = label;
  d.input_json = input_json;
  d.meta_json = "{}";
  d.policy_hash = policy;
  d.model_version = "logreg-5c1e0a";  // one model over the whole fixture
  d.created_ms = created_ms;
  d.task_id = task_id;
  return d;
}

inline sdk::DecisionRecord human(sdk::DecisionRecord d, const std::string& outcome, const std::string& final_label) {
  d.final_outcome = outcome;
  d.final_label = final_label;
  d.final_ms = d.created_ms + MIN;
  return d;
}

inline sdk::DecisionRecord truth(sdk::DecisionRecord d, const std::string& label) {
  d.truth_label = label;
  d.truth_ms = d.created_ms + DAY;
  return d;
}

inline sdk::TaskRecord task(std::int64_t id, const std::string& decision_id, const std::string& status,
                            std::int64_t created_ms, std::int64_t updated_ms, std::int64_t deadline_ms = 0) {
  sdk::TaskRecord t;
  t.task_id = id;
  t.domain = "credit_risk";
  t.decision_id = decision_id;
  t.status = status;
  t.created_ms = created_ms;
  t.updated_ms = updated_ms;
  t.deadline_ms = deadline_ms;
  return t;
}

inline sdk::ReviewRecord review(std::int64_t review_id, std::int64_t task_id, std::int64_t started_ms,
                                std::int64_t created_ms) {
  sdk::ReviewRecord r;
  r.review_id = review_id;
  r.task_id = task_id;
  r.domain = "credit_risk";
  r.reviewer = "alice";
  r.started_ms = started_ms;
  r.created_ms = created_ms;
  return r;
}

}  // namespace hitl::report::test
