#pragma once
// One turn of the learning loop for a domain, as `hitl retrain` and the service's retrain worker
// run it:
//   collect the final human outcomes -> freeze them as a dataset version -> train the domain's
//   model on its base data plus the version's older (train) rows -> register the candidate with
//   its lineage -> score it and the live model on the version's newest (holdout) rows and the
//   golden set -> promote(eval) (or the default rule) decides -> promote atomically.
// Every step that changes something is audited (model.trained, model.evaluated, model.promoted).
#include <hitl/plugin_api.hpp>

#include "config/service_config.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

namespace hitl::plugin { class Registry; }
namespace hitl::registry { struct Live; }
namespace hitl::policy { class PolicyEngine; }

namespace hitl::learning {

struct CycleContext {
  const config::ServiceConfig& cfg;
  const plugin::Registry& plugins;
  sdk::Storage& storage;           // read: the domain's outcomes
  policy::PolicyEngine& policies;  // weight(sample), promote(eval)
  // Writes the audit records (the service's group-commit writer, or storage directly in a CLI).
  std::function<sdk::Status(sdk::WriteBatch&)> commit;
  std::string actor;  // who the audit trail says acted: audit::kSystemActor (the service) or "cli:<user>"
};

struct CycleRequest {
  std::string domain;
  std::string trigger;  // "policy", "schedule", "admin:<token name>", "cli:<user>"
  std::string reason;   // why (the retrain hook's reason, the admin's text)
  bool promote = true;  // false: train and register only
  nlohmann::json trigger_stats;  // the stats retrain(stats) saw, kept in the lineage (null = none)
};

struct CycleResult {
  std::string dataset_id;
  bool dataset_created = false;  // false: the newest version already held these outcomes
  // samples: every outcome in the dataset version; new_samples: those not in its parent (what
  // the trigger's stats.samples counted, give or take what came in since).
  // holdout_rows: the reviewed slice judged on; base_holdout_rows and audit_rows: the unbiased
  // rows (docs/learning-loop.md, "Evaluate").
  std::size_t samples = 0, new_samples = 0, base_rows = 0, train_rows = 0, holdout_rows = 0;
  std::size_t base_holdout_rows = 0, audit_rows = 0;
  std::string candidate_id, candidate_version;
  double train_seconds = 0;
  nlohmann::json train_metrics;
  bool evaluated = false, promoted = false;
  std::string decided_by, decision;  // who decided and why ("not evaluated: ..." when it was not)
  nlohmann::json eval;               // the comparison (hitl model evaluate --json), with "promotion"
  std::string audit_error;           // the promotion happened but its audit record could not be written
};
nlohmann::json to_json(const CycleResult& r);

// The audit record of a registry swap (`action` model.promoted or model.rolled_back): the new live
// version, the one before, why, and which artifact file it replaced. Shared by the cycle and the
// `hitl model` commands so both write the same record.
sdk::AuditRecord swap_audit(const std::string& action, const std::string& domain, const registry::Live& live,
                            const std::filesystem::path& artifact, const std::filesystem::path& registry_dir);

// Throws std::runtime_error naming the step that failed ("train: ...", "no feedback yet ...").
// Nothing is promoted unless every step before it succeeded: a failure keeps the live model.
CycleResult run_cycle(const CycleContext& ctx, const CycleRequest& request);

}  // namespace hitl::learning
