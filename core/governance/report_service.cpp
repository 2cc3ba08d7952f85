#include "governance/report_service.hpp"

#include "common/clock.hpp"
#include "report/report.hpp"
#include "common/service_error.hpp"

#include <nlohmann/json.hpp>

namespace hitl::service {

report::Settings report_settings_of(const config::DomainConfig& d) {
  report::Settings s;
  s.group.field = d.report_group;
  s.group.bands = d.report_bands;
  s.cost.reviewer_per_hour = d.cost_reviewer_per_hour;
  s.cost.per_prediction = d.cost_per_prediction;
  return s;
}

namespace {
struct Prepared {
  report::Settings settings;
  report::Window window, baseline;
};

Prepared prepare(const config::DomainConfig& d, const ReportQuery& q) {
  Prepared p;
  p.settings = report_settings_of(d);
  p.window = {q.from_ms, q.to_ms};
  if (q.from_ms && q.to_ms && q.to_ms <= q.from_ms)
    throw ServiceError(422, "invalid_field", "to must be after from", "to");
  if (q.baseline_from_ms || q.baseline_to_ms) {
    p.baseline = {q.baseline_from_ms, q.baseline_to_ms};
  } else if (auto b = report::default_baseline(p.window, now_ms())) {
    p.baseline = *b;  // the window of equal length right before `from`
  }
  if (p.baseline.from_ms && p.baseline.to_ms && p.baseline.to_ms <= p.baseline.from_ms)
    throw ServiceError(422, "invalid_field", "baseline_to must be after baseline_from", "baseline_to");
  return p;
}

report::Report compute(sdk::Storage& storage, const config::DomainConfig& d, const ReportQuery& q) {
  const Prepared p = prepare(d, q);
  try {
    // Without a `from` there is no "before" to compare with: drift needs an explicit baseline.
    const bool has_baseline = p.baseline.from_ms || p.baseline.to_ms;
    // Streamed: memory stays flat however many decisions the window holds.
    return report::build(storage, d.name, p.settings, p.window,
                         has_baseline ? std::optional<report::Window>(p.baseline) : std::nullopt, now_ms());
  } catch (const ServiceError&) {
    throw;
  } catch (const std::exception& e) {
    throw ServiceError(503, "storage_unavailable", std::string("report: ") + e.what());
  }
}
}  // namespace

nlohmann::json build_report_json(sdk::Storage& storage, const config::DomainConfig& d, const ReportQuery& q) {
  return report::to_json(compute(storage, d, q));
}

std::string build_report_table(sdk::Storage& storage, const config::DomainConfig& d, const ReportQuery& q) {
  return report::to_table(compute(storage, d, q));
}

}  // namespace hitl::service
