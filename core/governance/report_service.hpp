#pragma once
// The domain report (the five operating metrics) as the API and `hitl report` serve it: reads
// the window's facts from storage, the baseline window's for bias drift, and computes them with
// core/report. The baseline defaults to the window of equal length right before `from`.
#include "config/service_config.hpp"
#include "report/report.hpp"

#include <hitl/plugin_api.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace hitl::service {

struct ReportQuery {
  std::int64_t from_ms = 0;  // 0 = from the first decision
  std::int64_t to_ms = 0;    // 0 = up to now
  std::int64_t baseline_from_ms = 0;
  std::int64_t baseline_to_ms = 0;
};

// The report settings of a domain's config: its group attribute and bands, its costs.
report::Settings report_settings_of(const config::DomainConfig& domain);

// Throws ServiceError (503) when storage fails, (422) when the window is empty or reversed.
nlohmann::json build_report_json(sdk::Storage& storage, const config::DomainConfig& domain, const ReportQuery& q);
std::string build_report_table(sdk::Storage& storage, const config::DomainConfig& domain, const ReportQuery& q);

}  // namespace hitl::service
