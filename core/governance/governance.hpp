#pragma once
// Governance actions on stored decisions, each audited in the same transaction as its effect:
//   erase      the payload of a decision (input, meta, contributions, feedback input, review
//              comments) goes; input_hash, labels and the audit chain stay verifiable;
//   truth      a client reports the real outcome learnt later (feeds the accuracy metrics);
//   retention  erases payloads older than a domain's retention_days (open reviews excepted).
// Used by the HTTP API (through the writer) and by `hitl erase` (straight to storage).
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace hitl::service {

struct Principal;

using CommitFn = std::function<sdk::Status(sdk::WriteBatch&)>;

struct EraseResult {
  std::string domain;
  std::string decision_id;
  bool erased = false;  // false: it had been erased before (nothing left to erase)
  std::int64_t erased_ms = 0;
  std::string input_hash;
};

// Removes erased decisions from the copies outside storage (the learning loop's dataset
// versions and golden cases, dataset::forget). Returns how many copies went.
using ForgetFn = std::function<std::size_t(const std::string& domain, const std::set<std::string>& ids)>;

// Hears a committed ground truth: `decision` as stored after it, `first` when the decision had
// none before (the learning loop counts it as new evidence).
using TruthFn = std::function<void(const sdk::DecisionRecord& decision, bool first)>;

class Governance {
 public:
  Governance(sdk::Storage& storage, CommitFn commit, ForgetFn forget = {}, TruthFn on_truth = {});

  // Throws ServiceError: 404 unknown decision, 422 empty reason, 503 storage.
  EraseResult erase(const std::string& domain, const std::string& id, const std::string& reason,
                    const std::string& actor);
  // Throws ServiceError: 404 unknown decision, 422 label not in `labels`, 503 storage.
  // Returns the stored decision after the change.
  sdk::DecisionRecord report_truth(const std::string& domain, const std::string& id, const std::string& label,
                                   const std::vector<std::string>& labels, const std::string& actor);
  // Erases the payloads of decisions created before `cutoff_ms` whose review is not open
  // (pending, assigned, escalated). Returns how many were erased. Throws ServiceError on storage
  // failure (what was committed before stays committed).
  std::size_t erase_older_than(const std::string& domain, std::int64_t cutoff_ms, const std::string& actor,
                               const std::string& reason);

  // Audits a service start: "service.started" with the config file's and each policy's content
  // hash, and "config.changed" / "policy.changed" records naming what differs from the previous
  // start (so a config or policy edit between restarts is in the chain); a policy swapped in
  // while the previous service ran (a "service.policies" record) counts as that start's. Returns
  // the changes.
  std::vector<std::string> record_start(const std::string& config_file, const std::string& config_sha256,
                                        const std::map<std::string, std::string>& policy_hashes);

 private:
  void forget(const std::string& domain, const std::set<std::string>& ids) const;
  sdk::Storage& storage_;
  CommitFn commit_;
  ForgetFn forget_;
  TruthFn on_truth_;
};

}  // namespace hitl::service
