#include "metrics/metrics.hpp"

#include "common/statistics.hpp"
#include "common/utf8.hpp"

#include <charconv>
#include <cmath>
#include <mutex>
#include <sstream>
#include <string_view>

namespace hitl::service {

namespace {

constexpr std::size_t kBands = 3;  // index 0 high, 1 medium, 2 low (see Metrics::priority_band)
constexpr const char* kBandNames[kBands] = {"high", "medium", "low"};

std::size_t band_index(double priority) {
  if (std::isnan(priority) || priority >= 0.67) return 0;
  if (priority >= 0.34) return 1;
  return 2;
}

bool label_value_ok(std::string_view v) {
  return v.size() <= Metrics::kMaxLabelValueBytes && valid_utf8(v);
}

// A free-text label value made safe: invalid UTF-8 bytes become U+FFFD, and the result is cut to
// kMaxLabelValueBytes without splitting a character.
std::string sanitize_label_value(std::string_view v) { return utf8_text(v, Metrics::kMaxLabelValueBytes); }

// Label values escaped per the text format: backslash, double quote and newline.
std::string esc(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

// Shortest text that reads back as the same double ("1", "0.25", "1e+06"); Go's ParseFloat, which
// Prometheus uses, accepts all of it.
std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

struct Metrics::Domain {
  DomainCounters counters;

  // Turnaround histogram: one (non-cumulative) count per bucket, the last one for > 604800 s.
  // Render accumulates them, and derives _count from the same reads, so _count always equals
  // the +Inf bucket even while observations race with a scrape.
  std::array<std::atomic<std::uint64_t>, kTurnaroundBuckets.size() + 1> turnaround{};
  std::atomic<double> turnaround_sum{0.0};
  std::atomic<std::uint64_t> corrections{0};
  std::atomic<std::uint64_t> sla_breaches{0};

  // reason -> count per priority band. Map nodes are never erased or moved, so an entry found
  // under the shared lock stays valid; its atomics need no lock.
  mutable std::shared_mutex flag_mu;
  std::map<std::string, std::array<std::atomic<std::uint64_t>, kBands>, std::less<>> flagged;
};

namespace {

// One HELP and one TYPE line per family, then all of its samples (families stay contiguous).
void family(std::ostream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// The helpers below take the domain map as a template parameter: Metrics::Domain is private.

// A counter family with one sample per domain; `read` picks the value from the domain's series.
template <class DomainMap, class Read>
void per_domain(std::ostream& o, const DomainMap& domains, const char* name, const char* help, Read read) {
  family(o, name, "counter", help);
  for (auto& [d, dom] : domains) o << name << "{domain=\"" << esc(d) << "\"} " << read(*dom) << '\n';
}

using Field = std::atomic<std::uint64_t> DomainCounters::*;

struct CounterFamily {
  const char* name;
  const char* help;
  Field field;
};

template <class DomainMap, std::size_t N>
void counter_families(std::ostream& o, const DomainMap& domains, const CounterFamily (&table)[N]) {
  for (const CounterFamily& f : table)
    per_domain(o, domains, f.name, f.help, [&f](const auto& dom) { return (dom.counters.*f.field).load(); });
}

// A counter family split by one more label (decisions by status, reviews by outcome).
struct LabelledFamily {
  const char* name;
  const char* help;
  const char* label;
  std::array<std::pair<const char*, Field>, 3> values;
};

template <class DomainMap>
void labelled_family(std::ostream& o, const DomainMap& domains, const LabelledFamily& f) {
  family(o, f.name, "counter", f.help);
  for (auto& [d, dom] : domains)
    for (const auto& [value, field] : f.values)
      o << f.name << "{domain=\"" << esc(d) << "\"," << f.label << "=\"" << value << "\"} "
        << (dom->counters.*field).load() << '\n';
}

constexpr CounterFamily kPredictionCounters[] = {
    {"hitl_predictions_total", "Predictions received (duplicates included).", &DomainCounters::predictions},
};

constexpr LabelledFamily kDecisions{"hitl_decisions_total", "Decisions by status.", "status",
                                    {{{"auto_approved", &DomainCounters::auto_approved},
                                      {"pending_review", &DomainCounters::pending_review},
                                      {"rejected", &DomainCounters::rejected}}}};

constexpr CounterFamily kOutcomeCounters[] = {
    {"hitl_duplicates_total", "Repeated ids answered with the original decision.", &DomainCounters::duplicates},
    {"hitl_policy_errors_total", "Policy failures (failed closed to review).", &DomainCounters::policy_errors},
    {"hitl_model_errors_total", "Model failures (failed closed to review).", &DomainCounters::model_errors},
    {"hitl_shadow_predictions_total", "Records the domain's shadow model scored (never used for decisions).",
     &DomainCounters::shadow_predictions},
    {"hitl_shadow_agreements_total", "Shadow predictions with the same label as the prediction the decision used.",
     &DomainCounters::shadow_agreements},
    {"hitl_shadow_errors_total", "Shadow model failures (no effect on decisions).", &DomainCounters::shadow_errors},
    {"hitl_retrain_checks_total", "Times the policy's retrain(stats) was asked.", &DomainCounters::retrain_checks},
    {"hitl_retrain_triggers_total", "Times retrain(stats) said yes and a training was queued.",
     &DomainCounters::retrain_triggers},
    {"hitl_trainings_promoted_total", "Trainings whose candidate was promoted.", &DomainCounters::trainings_promoted},
    {"hitl_trainings_kept_total", "Trainings whose candidate was refused or not evaluated (the live model stayed).",
     &DomainCounters::trainings_kept},
    {"hitl_trainings_failed_total", "Trainings that failed (the live model stayed).", &DomainCounters::trainings_failed},
    {"hitl_audit_drawn_total", "Automatic decisions sent to review as audit samples (the policy's audit_rate).",
     &DomainCounters::audit_drawn},
    {"hitl_audit_samples_total", "Audit samples with a final labelled outcome (behind hitl_estimated_accuracy).",
     &DomainCounters::audit_samples},
};

// hitl_estimated_accuracy{who="model|system"} and its 95% interval, from the counters alone:
// reviewed outcomes are a census, the automatic decisions (auto-approved and audit) are estimated
// from the audit samples (one audit_rate since start: equal weights). docs/report.md, 3c has the
// estimator, which statistics::census_plus_sample computes for both. No series without samples.
template <class DomainMap>
void estimate_families(std::ostream& o, const DomainMap& domains) {
  family(o, "hitl_estimated_accuracy", "gauge",
         "Accuracy over all traffic since start, estimated from reviewed cases and audit samples.");
  std::ostringstream bounds;
  for (auto& [d, dom] : domains) {
    const auto& c = dom->counters;
    const auto sample = statistics::proportion(statistics::equal_weights(c.audit_samples.load(), c.audit_model_right.load()));
    const double automatic = double(c.auto_approved.load()) + double(c.audit_drawn.load());
    const double reviewed = double(c.reviewed_outcomes.load());
    for (const auto& [who, right] : {std::pair{"model", double(c.reviewed_model_right.load())}, std::pair{"system", reviewed}}) {
      const auto e = statistics::census_plus_sample(reviewed, right, automatic, sample);
      if (!e || sample.rows == 0) continue;
      const std::string lab = "{domain=\"" + esc(d) + "\",who=\"" + who + "\"";
      o << "hitl_estimated_accuracy" << lab << "} " << format_double(e->value) << '\n';
      bounds << "hitl_estimated_accuracy_ci95" << lab << ",bound=\"low\"} " << format_double(e->interval.low) << '\n';
      bounds << "hitl_estimated_accuracy_ci95" << lab << ",bound=\"high\"} " << format_double(e->interval.high) << '\n';
    }
  }
  family(o, "hitl_estimated_accuracy_ci95", "gauge", "The 95% interval of hitl_estimated_accuracy.");
  o << bounds.str();
}

constexpr LabelledFamily kReviews{"hitl_reviews_total", "Human review outcomes.", "outcome",
                                  {{{"approve", &DomainCounters::reviews_approve},
                                    {"reject", &DomainCounters::reviews_reject},
                                    {"correct", &DomainCounters::reviews_correct}}}};

constexpr CounterFamily kLeaseCounters[] = {
    {"hitl_task_claims_total", "Review tasks claimed.", &DomainCounters::claims},
    {"hitl_leases_expired_total", "Review leases that expired and returned the task.", &DomainCounters::leases_expired},
};

// Only reasons that occurred have series; once a reason occurs, all three bands are emitted
// (from 0) so that rate() sees each band's first increment.
template <class DomainMap>
void flagged_family(std::ostream& o, const DomainMap& domains) {
  bool any = false;
  for (auto& [d, dom] : domains) {
    std::shared_lock lock(dom->flag_mu);
    if (dom->flagged.empty()) continue;
    if (!any) family(o, "hitl_flagged_total", "counter", "Predictions sent to review, by policy reason and priority band.");
    any = true;
    for (auto& [reason, bands] : dom->flagged)
      for (std::size_t b = 0; b < kBands; ++b)
        o << "hitl_flagged_total{domain=\"" << esc(d) << "\",reason=\"" << esc(reason) << "\",priority=\""
          << kBandNames[b] << "\"} " << bands[b].load(std::memory_order_relaxed) << '\n';
  }
}

template <class DomainMap>
void turnaround_family(std::ostream& o, const DomainMap& domains) {
  constexpr const auto& kBuckets = Metrics::kTurnaroundBuckets;
  family(o, "hitl_review_turnaround_seconds", "histogram", "Time from a review task's creation to its stored outcome.");
  for (auto& [d, dom] : domains) {
    const std::string lab = "{domain=\"" + esc(d) + "\",le=\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += dom->turnaround[i].load(std::memory_order_relaxed);
      o << "hitl_review_turnaround_seconds_bucket" << lab << format_double(kBuckets[i]) << "\"} " << cumulative << '\n';
    }
    cumulative += dom->turnaround[kBuckets.size()].load(std::memory_order_relaxed);
    o << "hitl_review_turnaround_seconds_bucket" << lab << "+Inf\"} " << cumulative << '\n';
    o << "hitl_review_turnaround_seconds_sum{domain=\"" << esc(d) << "\"} "
      << format_double(dom->turnaround_sum.load(std::memory_order_relaxed)) << '\n';
    o << "hitl_review_turnaround_seconds_count{domain=\"" << esc(d) << "\"} " << cumulative << '\n';
  }
}

// The process-wide families: HTTP, storage commits, transport events, the slow lane.
void process_families(std::ostream& o, const Metrics& m) {
  family(o, "hitl_http_requests_total", "counter", "HTTP requests handled.");
  o << "hitl_http_requests_total " << m.http_requests << '\n';
  family(o, "hitl_http_errors_total", "counter", "HTTP requests answered with an error status.");
  o << "hitl_http_errors_total " << m.http_errors << '\n';
  family(o, "hitl_storage_commits_total", "counter", "Storage transactions committed by the writer.");
  o << "hitl_storage_commits_total " << m.storage_commits << '\n';
  family(o, "hitl_http_transport_events_total", "counter",
         "What the HTTP transport did without the handler: refusals (400, 413, 431, 503), timeouts, reclaimed connections, failed accepts.");
  for (int e = 0; e < http::kTransportEventCount; ++e)
    o << "hitl_http_transport_events_total{event=\"" << http::event_name(static_cast<http::TransportEvent>(e)) << "\"} "
      << m.transport_events[static_cast<std::size_t>(e)] << '\n';
  family(o, "hitl_slow_lane_busy_total", "counter", "Slow routes refused with 503 busy because the slow lane's queue was full.");
  o << "hitl_slow_lane_busy_total " << m.slow_lane_busy << '\n';
}

}  // namespace

Metrics::Metrics(const std::vector<std::string>& domains) {
  for (auto& d : domains) domains_[d] = std::make_unique<Domain>();
}

Metrics::~Metrics() = default;

Metrics::Domain* Metrics::find(const std::string& name) const {
  auto it = domains_.find(name);
  return it == domains_.end() ? nullptr : it->second.get();
}

DomainCounters* Metrics::domain(const std::string& name) {
  auto* d = find(name);
  return d ? &d->counters : nullptr;
}

const char* Metrics::priority_band(double priority) { return kBandNames[band_index(priority)]; }

void Metrics::flagged(const std::string& domain, const std::string& reason, double priority) {
  Domain* d = find(domain);
  if (!d) return;
  const std::size_t band = band_index(priority);
  std::string fixed;
  std::string_view key = reason;
  if (!label_value_ok(key)) key = fixed = sanitize_label_value(key);
  {
    std::shared_lock lock(d->flag_mu);  // hot path: a reason seen before
    if (auto it = d->flagged.find(key); it != d->flagged.end()) {
      it->second[band].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  std::unique_lock lock(d->flag_mu);
  auto it = d->flagged.find(key);
  if (it == d->flagged.end()) {
    // Policy reasons are free text chosen by each domain's Lua policy (and may even embed record
    // data). Every distinct reason is a new time series in Prometheus, so an unbounded set would
    // grow this map and the scrape without limit and could overload the monitoring system.
    // Past kMaxReasonsPerDomain distinct reasons, new ones are pooled under reason="other".
    if (d->flagged.size() >= kMaxReasonsPerDomain) key = "other";
    it = d->flagged.try_emplace(std::string(key)).first;
  }
  it->second[band].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::review_completed(const std::string& domain, const std::string& /*outcome*/,
                               double turnaround_seconds, bool corrected, bool sla_breached) {
  Domain* d = find(domain);
  if (!d) return;
  if (std::isfinite(turnaround_seconds)) {
    const double v = turnaround_seconds < 0 ? 0.0 : turnaround_seconds;
    std::size_t i = 0;
    while (i < kTurnaroundBuckets.size() && v > kTurnaroundBuckets[i]) ++i;  // le is inclusive
    d->turnaround[i].fetch_add(1, std::memory_order_relaxed);
    d->turnaround_sum.fetch_add(v, std::memory_order_relaxed);
  }
  if (corrected) d->corrections.fetch_add(1, std::memory_order_relaxed);
  if (sla_breached) d->sla_breaches.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::estimate_outcome(const std::string& domain, bool audit_sample, bool model_right) {
  Domain* d = find(domain);
  if (!d) return;
  auto& c = d->counters;
  // The outcome first, so a scrape in between never sees more right than outcomes.
  (audit_sample ? c.audit_samples : c.reviewed_outcomes).fetch_add(1, std::memory_order_relaxed);
  if (model_right) (audit_sample ? c.audit_model_right : c.reviewed_model_right).fetch_add(1, std::memory_order_relaxed);
}

void Metrics::sla_breached(const std::string& domain) {
  if (Domain* d = find(domain)) d->sla_breaches.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::plugin_error(const std::string& kind, const std::string& plugin) {
  if (kind != "model" && kind != "queue" && kind != "storage") return;
  // Plugin names come from the config, so they are few; still cap them like flag reasons.
  std::pair<std::string, std::string> key{kind, label_value_ok(plugin) ? plugin : sanitize_label_value(plugin)};
  {
    std::shared_lock lock(plugin_mu_);
    if (auto it = plugin_errors_.find(key); it != plugin_errors_.end()) {
      it->second.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  std::unique_lock lock(plugin_mu_);
  auto it = plugin_errors_.find(key);
  if (it == plugin_errors_.end()) {
    if (plugin_errors_.size() >= kMaxPluginSeries) key.second = "other";
    it = plugin_errors_.try_emplace(std::move(key)).first;
  }
  it->second.fetch_add(1, std::memory_order_relaxed);
}

struct Metrics::Family {
  std::string name, help, label;
  std::vector<std::string> values;
  std::map<std::string, std::unique_ptr<std::atomic<std::uint64_t>[]>, std::less<>> by_domain;
};

Metrics::FamilyId Metrics::add_family(std::string name, std::string help, std::string label,
                                      std::vector<std::string> values) {
  auto f = std::make_unique<Family>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->label = std::move(label);
  f->values = std::move(values);
  for (auto& [d, dom] : domains_) f->by_domain.emplace(d, std::make_unique<std::atomic<std::uint64_t>[]>(f->values.size()));
  families_.push_back(std::move(f));
  return families_.size() - 1;
}

std::atomic<std::uint64_t>* Metrics::cell(FamilyId family, const std::string& domain,
                                                std::size_t value) const noexcept {
  if (family >= families_.size() || value >= families_[family]->values.size()) return nullptr;
  const auto& by_domain = families_[family]->by_domain;
  auto it = by_domain.find(domain);
  return it == by_domain.end() ? nullptr : &it->second[value];
}

void Metrics::count(FamilyId family, const std::string& domain, std::size_t value) noexcept {
  if (auto* c = cell(family, domain, value)) c->fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t Metrics::value(FamilyId family, const std::string& domain, std::size_t value) const noexcept {
  const auto* c = cell(family, domain, value);
  return c ? c->load(std::memory_order_relaxed) : 0;
}

std::string Metrics::render_prometheus(const std::function<Gauge(const std::string&)>& queue_depth) const {
  std::ostringstream o;
  counter_families(o, domains_, kPredictionCounters);
  labelled_family(o, domains_, kDecisions);
  flagged_family(o, domains_);
  counter_families(o, domains_, kOutcomeCounters);
  labelled_family(o, domains_, kReviews);
  turnaround_family(o, domains_);
  per_domain(o, domains_, "hitl_corrections_total", "Reviews that corrected the model's prediction.",
             [](const auto& dom) { return dom.corrections.load(); });
  per_domain(o, domains_, "hitl_sla_breaches_total", "Review SLA breaches (tasks past their deadline).",
             [](const auto& dom) { return dom.sla_breaches.load(); });
  counter_families(o, domains_, kLeaseCounters);
  estimate_families(o, domains_);
  if (queue_depth) {
    family(o, "hitl_queue_depth", "gauge", "Review tasks in the queue by state.");
    for (auto& [d, c] : domains_) {
      auto g = queue_depth(d);
      o << "hitl_queue_depth{domain=\"" << esc(d) << "\",state=\"ready\"} " << g.ready << '\n';
      o << "hitl_queue_depth{domain=\"" << esc(d) << "\",state=\"leased\"} " << g.leased << '\n';
    }
  }
  {
    std::shared_lock lock(plugin_mu_);
    if (!plugin_errors_.empty()) {
      family(o, "hitl_plugin_errors_total", "counter", "Failed plugin calls, by plugin kind and name.");
      for (auto& [key, n] : plugin_errors_)
        o << "hitl_plugin_errors_total{kind=\"" << esc(key.first) << "\",plugin=\"" << esc(key.second) << "\"} "
          << n.load(std::memory_order_relaxed) << '\n';
    }
  }
  for (const auto& f : families_) {
    family(o, f->name.c_str(), "counter", f->help.c_str());
    for (const auto& [d, cells] : f->by_domain)
      for (std::size_t i = 0; i < f->values.size(); ++i)
        o << f->name << "{domain=\"" << esc(d) << "\"," << f->label << "=\"" << esc(f->values[i]) << "\"} "
          << cells[i].load(std::memory_order_relaxed) << '\n';
  }
  process_families(o, *this);
  return o.str();
}

}  // namespace hitl::service
