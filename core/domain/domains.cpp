#include "domain/domains.hpp"

#include "common/service_error.hpp"

#include <algorithm>

namespace hitl::service {

bool DomainSettings::has_label(const std::string& label) const {
  return std::find(labels.begin(), labels.end(), label) != labels.end();
}

DomainSettings settings_of(const config::DomainConfig& d) {
  DomainSettings s;
  s.name = d.name;
  s.labels = d.labels;
  s.model_name = d.model;
  s.ensemble = d.ensemble;
  s.judge_name = d.judge_model;
  s.shadow_name = d.shadow_model;
  s.lease_ms = d.lease_seconds * 1000;
  s.sla_seconds = d.sla_seconds;
  s.sensitive = d.sensitive;
  s.redactor = Redactor(d.sensitive);
  s.fatigue_max_consecutive = d.fatigue_max_consecutive;
  s.fatigue_max_per_hour = d.fatigue_max_per_hour;
  s.sla_at_risk_fraction = d.sla_at_risk_fraction;
  s.webhook_url = d.webhook_url;
  if (!d.gold_file.empty()) s.gold = std::make_shared<const GoldSet>(load_gold_set(d.gold_file, d.labels));
  return s;
}

Domains::Domains(const std::map<std::string, config::DomainConfig>& config) {
  for (const auto& [name, d] : config) {
    DomainSettings s = settings_of(d);
    s.name = name;  // the map key is the name every request uses
    domains_.emplace(name, std::move(s));
  }
}

Domains::Domains(std::vector<DomainSettings> domains) {
  for (auto& d : domains) {
    std::string name = d.name;
    domains_.insert_or_assign(std::move(name), std::move(d));
  }
}

const DomainSettings* Domains::find(const std::string& name) const {
  auto it = domains_.find(name);
  return it == domains_.end() ? nullptr : &it->second;
}

const DomainSettings& Domains::require(const std::string& name) const {
  if (const auto* d = find(name)) return *d;
  throw ServiceError(404, "unknown_domain", "no domain named \"" + name + "\"", "domain");
}

std::vector<std::string> Domains::names() const {
  std::vector<std::string> out;
  out.reserve(domains_.size());
  for (const auto& [name, _] : domains_) out.push_back(name);
  return out;
}

}  // namespace hitl::service
