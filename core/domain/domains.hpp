#pragma once
// The settings of each configured domain, as every part of the service reads them: labels,
// model names, lease and SLA, redaction, fatigue limits, webhook, golden set. Built once from the
// validated config (App) and read-only afterwards, so any thread may read it.
//
// Ingest (scoring, decisions), review (claims, assignment, escalation) and the API all look a
// domain up here; none of them asks another part for a domain's settings.
#include "config/service_config.hpp"
#include "dataset/gold.hpp"
#include "domain/redaction.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hitl::service {

struct DomainSettings {
  std::string name;
  std::vector<std::string> labels;
  // Names of `models` entries (config `models.<name>`); the live models are the pipeline's.
  std::string model_name;               // "" = clients must send predictions
  std::vector<std::string> ensemble;    // further models scoring every record for p.predictions, in order
  std::string judge_name;               // run on cases flag sends to hitl.judge() ("" = none)
  std::string shadow_name;              // scores every record for the agreement metrics only ("" = none)
  std::int64_t lease_ms = 300000;
  std::int64_t sla_seconds = 0;         // default review deadline (0 = none)
  std::vector<std::string> sensitive;   // fields masked for reviewers (see domain/redaction.hpp)
  Redactor redactor;                    // built from `sensitive` once
  std::int64_t fatigue_max_consecutive = 0;
  std::int64_t fatigue_max_per_hour = 0;
  double sla_at_risk_fraction = 0.8;
  std::string webhook_url;              // escalation "notify" deliveries go here too
  std::shared_ptr<const GoldSet> gold;  // golden set for gold tasks (null = none)

  bool has_label(const std::string& label) const;
};

class Domains {
 public:
  // Loads each domain's golden set (gold_file); throws std::runtime_error naming the file when
  // one is malformed, as the start refuses a malformed config.
  explicit Domains(const std::map<std::string, config::DomainConfig>& config);
  // Made directly (tests).
  explicit Domains(std::vector<DomainSettings> domains);

  const DomainSettings* find(const std::string& name) const;  // null = no such domain
  // Throws ServiceError 404 unknown_domain ("no domain named \"x\"", field "domain").
  const DomainSettings& require(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

  auto begin() const { return domains_.begin(); }
  auto end() const { return domains_.end(); }

 private:
  std::map<std::string, DomainSettings> domains_;
};

// One domain's settings from its config entry (the golden set loaded when gold_file is set).
DomainSettings settings_of(const config::DomainConfig& d);

}  // namespace hitl::service
