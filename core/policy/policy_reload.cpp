#include "policy/policy_reload.hpp"

#include "common/utf8.hpp"
#include "policy/policy_cases.hpp"

#include <exception>
#include <utility>

namespace hitl::policy {

const char* outcome_name(ReloadOutcome o) {
  switch (o) {
    case ReloadOutcome::loaded: return "loaded";
    case ReloadOutcome::unchanged: return "unchanged";
    case ReloadOutcome::refused_broken: return "refused_broken";
    case ReloadOutcome::refused_cases: return "refused_cases";
  }
  return "refused_broken";
}

namespace {

// "" when every case passes, else which failed and how (the first few, then a count).
std::string failed_cases(PolicyEngine& candidate, const std::string& domain, const std::vector<PolicyCase>& cases) {
  std::string text;
  std::size_t failed = 0;
  for (const auto& c : cases) {
    const CaseResult r = run_case(candidate, domain, c);
    if (r.passed) continue;
    if (++failed > kFailedCasesShown) continue;
    text += (text.empty() ? "" : "; ") + r.source + " " + r.name + ":";
    for (const auto& d : r.differences) text += " " + d + ".";
  }
  if (failed == 0) return text;
  return std::to_string(failed) + " of " + std::to_string(cases.size()) + " cases fail: " + text;
}

ReloadResult refuse(ReloadResult r, ReloadOutcome why, const std::string& error) {
  r.outcome = why;
  r.error = utf8_text(error, kMaxReloadErrorBytes);  // a policy's message may quote anything
  return r;
}

}  // namespace

ReloadResult reload_policy(PolicyEngine& live, const std::string& domain, const std::filesystem::path& file,
                           const std::filesystem::path& cases) {
  ReloadResult r;
  r.old_hash = live.policy_hash(domain);
  std::unique_ptr<PolicyEngine> candidate;
  try {
    candidate = live.candidate(domain, file);
  } catch (const std::exception& e) {
    return refuse(std::move(r), ReloadOutcome::refused_broken, e.what());
  }
  r.new_hash = candidate->policy_hash(domain);
  r.version = candidate->policy_version(domain);
  if (r.new_hash == r.old_hash) return r;  // unchanged
  try {
    const std::vector<PolicyCase> loaded = cases.empty() ? std::vector<PolicyCase>{} : load_cases(cases);
    r.cases = loaded.size();
    if (auto failed = failed_cases(*candidate, domain, loaded); !failed.empty())
      return refuse(std::move(r), ReloadOutcome::refused_cases, failed);
    live.replace(domain, *candidate);
  } catch (const std::exception& e) {  // a case file that does not load: nothing is verified
    return refuse(std::move(r), ReloadOutcome::refused_cases, e.what());
  }
  r.outcome = ReloadOutcome::loaded;
  return r;
}

}  // namespace hitl::policy
