#pragma once
// Policy test cases (`hitl policy test`, docs/policy.md "Testing a policy"): what a domain team
// expects its policy to answer, in the domain's own terms, checked against the real engine.
//
// A case file is JSON Lines, one case per line (blank lines and lines starting with # skipped).
// Three kinds, told apart by their fields:
//   record   {"name", "input", "prediction", ["meta", "predictions", "ood", "signals", "now",
//             "candidates"], "expect": {verdict, reason, skills, pool, priority, sla,
//             reviewers_needed, assign, policy_error}}
//   retrain  {"name", "retrain": {stats}, "expect": {"retrain": true|false}}
//   promote  {"name", "promote": {eval},  "expect": {"promote": true|false}}
// Only the expectations a case states are checked. Unknown fields are refused, so a typo never
// turns into a check that silently passes.
#include "policy/policy_engine.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace hitl::policy {

enum class CaseKind { record, retrain, promote };

struct PolicyCase {
  std::string name;
  std::string source;  // "<file>:<line>"
  CaseKind kind = CaseKind::record;
  nlohmann::json spec;    // the whole case object
  nlohmann::json expect;  // its "expect" object
};

struct CaseResult {
  std::string name, source;
  bool passed = false;
  // One line per expectation that did not hold: "verdict: expected review, got auto".
  std::vector<std::string> differences;
};

// Reads one case file, or every *.jsonl file of a folder (in name order). Throws PolicyError
// "<file>:<line>: <reason>" for a case that is not valid JSON or breaks the schema above.
std::vector<PolicyCase> load_cases(const std::filesystem::path& path);

// Where `hitl policy test` looks when --cases is not given: <stem>.cases.jsonl beside the policy,
// else the folder <stem>_cases/ beside it. Empty when neither exists.
std::filesystem::path default_cases_path(const std::filesystem::path& policy_file);

// A prediction as JSON ({label, confidence, scores, model, version}) as the policy sees it.
// Throws std::invalid_argument naming the bad field.
PredictionView prediction_view_of(const nlohmann::json& j);

// Runs one case through `engine`'s policy for `domain` (one thread at a time: a case's signals
// and clock are the engine's and the process's for the duration of the call).
CaseResult run_case(PolicyEngine& engine, const std::string& domain, const PolicyCase& c);

// What the policy answers for one record: verdict, reason, options, priority, sla, reviewers
// needed (for `hitl policy run` and the differences of a failed case). `spec` holds the record
// fields of a case (input, prediction, meta, ...).
nlohmann::json evaluate_record(PolicyEngine& engine, const std::string& domain, const nlohmann::json& spec);

}  // namespace hitl::policy
