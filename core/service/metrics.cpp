#include "service/metrics.hpp"

#include <sstream>

namespace hitl::service {

Metrics::Metrics(const std::vector<std::string>& domains) {
  for (auto& d : domains) domains_[d] = std::make_unique<DomainCounters>();
}

DomainCounters* Metrics::domain(const std::string& name) {
  auto it = domains_.find(name);
  return it == domains_.end() ? nullptr : it->second.get();
}

namespace {
// Label values escaped per the text format: backslash, double quote and newline.
std::string esc(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}
}  // namespace

std::string Metrics::render_prometheus(const std::function<Gauge(const std::string&)>& queue_depth) const {
  std::ostringstream o;
  auto family = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  using Field = std::atomic<std::uint64_t> DomainCounters::*;
  auto per_domain = [&](const char* name, const char* help, Field f) {
    family(name, "counter", help);
    for (auto& [d, c] : domains_) o << name << "{domain=\"" << esc(d) << "\"} " << ((*c).*f).load() << '\n';
  };
  per_domain("hitl_predictions_total", "Predictions received (duplicates included).", &DomainCounters::predictions);
  family("hitl_decisions_total", "counter", "Decisions by status.");
  for (auto& [d, c] : domains_) {
    o << "hitl_decisions_total{domain=\"" << esc(d) << "\",status=\"auto_approved\"} " << c->auto_approved << '\n';
    o << "hitl_decisions_total{domain=\"" << esc(d) << "\",status=\"pending_review\"} " << c->pending_review << '\n';
    o << "hitl_decisions_total{domain=\"" << esc(d) << "\",status=\"rejected\"} " << c->rejected << '\n';
  }
  per_domain("hitl_duplicates_total", "Repeated ids answered with the original decision.", &DomainCounters::duplicates);
  per_domain("hitl_policy_errors_total", "Policy failures (failed closed to review).", &DomainCounters::policy_errors);
  per_domain("hitl_model_errors_total", "Model failures (failed closed to review).", &DomainCounters::model_errors);
  family("hitl_reviews_total", "counter", "Human review outcomes.");
  for (auto& [d, c] : domains_) {
    o << "hitl_reviews_total{domain=\"" << esc(d) << "\",outcome=\"approve\"} " << c->reviews_approve << '\n';
    o << "hitl_reviews_total{domain=\"" << esc(d) << "\",outcome=\"reject\"} " << c->reviews_reject << '\n';
    o << "hitl_reviews_total{domain=\"" << esc(d) << "\",outcome=\"correct\"} " << c->reviews_correct << '\n';
  }
  per_domain("hitl_task_claims_total", "Review tasks claimed.", &DomainCounters::claims);
  per_domain("hitl_leases_expired_total", "Review leases that expired and returned the task.", &DomainCounters::leases_expired);
  if (queue_depth) {
    family("hitl_queue_depth", "gauge", "Review tasks in the queue by state.");
    for (auto& [d, c] : domains_) {
      auto g = queue_depth(d);
      o << "hitl_queue_depth{domain=\"" << esc(d) << "\",state=\"ready\"} " << g.ready << '\n';
      o << "hitl_queue_depth{domain=\"" << esc(d) << "\",state=\"leased\"} " << g.leased << '\n';
    }
  }
  family("hitl_http_requests_total", "counter", "HTTP requests handled.");
  o << "hitl_http_requests_total " << http_requests << '\n';
  family("hitl_http_errors_total", "counter", "HTTP requests answered with an error status.");
  o << "hitl_http_errors_total " << http_errors << '\n';
  family("hitl_storage_commits_total", "counter", "Storage transactions committed by the writer.");
  o << "hitl_storage_commits_total " << storage_commits << '\n';
  return o.str();
}

}  // namespace hitl::service
