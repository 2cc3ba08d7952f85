#pragma once
// A policy change without downtime (docs/policy.md, "Changing a running policy"): the changed file
// is compiled with the domain's limits, the domain's test cases are run against it
// (policy_cases.hpp), and only when every case passes is it swapped into the running engine
// (PolicyEngine::replace). A broken or failing candidate is refused with its error and the policy
// in force keeps serving. Auditing, counting and logging are the caller's (app/policy_reloader).
#include "policy/policy_engine.hpp"

#include <cstddef>
#include <filesystem>
#include <string>

namespace hitl::policy {

enum class ReloadOutcome {
  loaded,          // swapped in
  unchanged,       // same content as the policy in force: nothing to do
  refused_broken,  // does not load (read error, syntax, no flag, a bad hook table)
  refused_cases,   // loads, but a test case fails or the case file does not load
};
inline constexpr std::size_t kReloadOutcomeCount = 4;
const char* outcome_name(ReloadOutcome o);  // "loaded", "unchanged", "refused_broken", "refused_cases"
inline bool refused(ReloadOutcome o) { return o == ReloadOutcome::refused_broken || o == ReloadOutcome::refused_cases; }

struct ReloadResult {
  ReloadOutcome outcome = ReloadOutcome::unchanged;
  std::string old_hash, new_hash;  // new_hash: the candidate's ("" when it did not load)
  std::string version;             // the candidate's `version` field
  std::size_t cases = 0;           // cases run (all of them pass when loaded)
  std::string error;               // why it was refused: at most kMaxReloadErrorBytes
};

inline constexpr std::size_t kMaxReloadErrorBytes = 2048;
// Failed cases named in a refusal (the rest are counted).
inline constexpr std::size_t kFailedCasesShown = 3;

// Compiles `file` as `domain`'s policy (the engine's limits and library), runs the cases of
// `cases` (a file or folder; empty: none), and swaps it into `live` when all pass. The caller
// serialises reloads of one engine. Never throws for a bad candidate: the result says why.
ReloadResult reload_policy(PolicyEngine& live, const std::string& domain, const std::filesystem::path& file,
                           const std::filesystem::path& cases);

}  // namespace hitl::policy
