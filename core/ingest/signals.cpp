#include "ingest/signals.hpp"

#include "ingest/calibration.hpp"
#include "ingest/confidence_window.hpp"

#include "data/records.hpp"
#include "metrics/metrics.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>

namespace hitl::service {
using nlohmann::json;

namespace {
struct Bucket {
  std::int64_t index = -1;  // which 10-second slot of time this bucket holds now
  std::uint32_t predictions = 0, flagged = 0, rejected = 0, errors = 0, reviews = 0;
};

// A ring of buckets indexed by time slot: a slot's bucket is reset when a later slot reuses it,
// so nothing has to expire old buckets.
struct Ring {
  std::array<Bucket, Signals::kBuckets> b{};
  Bucket& at(std::int64_t slot) {
    Bucket& x = b[static_cast<std::size_t>(slot % Signals::kBuckets)];
    if (x.index != slot) x = Bucket{slot};
    return x;
  }
  void sum(std::int64_t first, std::int64_t last, policy::WindowFigures& out) const {
    for (std::int64_t s = std::max<std::int64_t>(first, 0); s <= last; ++s) {  // no slot before the epoch
      const Bucket& x = b[static_cast<std::size_t>(s % Signals::kBuckets)];
      if (x.index != s) continue;
      out.predictions += x.predictions;
      out.flagged += x.flagged;
      out.rejected += x.rejected;
      out.errors += x.errors;
      out.reviews += x.reviews;
    }
  }
};

std::int64_t slot_of(std::int64_t ms) { return ms >= 0 ? ms / Signals::kBucketMs : 0; }
}  // namespace

struct Signals::Domain {
  std::string name;
  bool segment_in_meta = false;
  std::string segment_key;  // "" = no segments
  DomainCounters* counters = nullptr;

  mutable std::mutex mu;
  mutable Ring total;
  mutable std::unordered_map<std::string, std::unique_ptr<Ring>> segments;
  mutable std::uint64_t reviews_seen = 0;
  ConfidenceWindow confidences;  // the last predictions' confidences (hitl.threshold_for_rate)
  Calibration calibration;       // hitl.calibrated, from labelled outcomes
  std::vector<sdk::Record> recent_rows;  // a ring of the last kRecentRows scored rows (recalibrate)
  std::size_t recent_next = 0;
  bool overflow_logged = false;

  std::atomic<std::int64_t> open_tasks{0};
  std::atomic<std::int64_t> next_refresh_ms{0};

  std::uint64_t reviews_now() const {
    if (!counters) return 0;
    return counters->reviews_approve.load(std::memory_order_relaxed) + counters->reviews_reject.load(std::memory_order_relaxed) +
           counters->reviews_correct.load(std::memory_order_relaxed);
  }
  // Under mu: review outcomes since the last look go into the current bucket. The review service
  // only bumps counters, so sampling them here keeps it unaware of the windows.
  void sample_reviews(std::int64_t slot) const {
    const std::uint64_t now = reviews_now();
    if (now > reviews_seen) total.at(slot).reviews += static_cast<std::uint32_t>(now - reviews_seen);
    reviews_seen = now;
  }
};

Signals::Signals(const std::vector<DomainSetup>& domains, sdk::Queue* queue) : queue_(queue) {
  for (const auto& s : domains) {
    auto d = std::make_unique<Domain>();
    d->name = s.name;
    d->counters = s.counters;
    if (s.segment_field.rfind("meta.", 0) == 0) {
      d->segment_in_meta = true;
      d->segment_key = s.segment_field.substr(5);
    } else {
      d->segment_key = s.segment_field;
    }
    d->reviews_seen = d->reviews_now();
    domains_.emplace(s.name, std::move(d));
  }
}

Signals::~Signals() = default;

std::optional<std::string> Signals::segment_of(const std::string& domain, const json& input, const json& meta) const {
  auto it = domains_.find(domain);
  if (it == domains_.end() || it->second->segment_key.empty()) return std::nullopt;
  const Domain& d = *it->second;
  const json& obj = d.segment_in_meta ? meta : input;
  if (!obj.is_object()) return std::nullopt;
  auto v = obj.find(d.segment_key);
  if (v == obj.end()) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_boolean()) return std::string(v->get<bool>() ? "true" : "false");
  if (v->is_number()) return data::number_text(v->get<double>());
  return std::nullopt;  // null, objects, arrays: no segment
}

std::optional<double> Signals::threshold_for_rate(const std::string& domain, double rate) const noexcept {
  auto it = domains_.find(domain);
  if (it == domains_.end()) return std::nullopt;
  std::lock_guard lock(it->second->mu);
  return it->second->confidences.threshold_for(rate);
}

void Signals::record(const std::string& domain, const std::optional<std::string>& segment, Outcome o,
                     std::int64_t now_ms) noexcept {
  auto it = domains_.find(domain);
  if (it == domains_.end()) return;
  Domain& d = *it->second;
  const std::int64_t slot = slot_of(now_ms);
  auto add = [&](Ring& r) {
    Bucket& b = r.at(slot);
    b.predictions++;
    if (o.flagged) b.flagged++;
    if (o.rejected) b.rejected++;
    if (o.error) b.errors++;
  };
  try {
    std::lock_guard lock(d.mu);
    d.sample_reviews(slot);
    add(d.total);
    if (o.confidence) d.confidences.add(*o.confidence, o.model_version ? *o.model_version : std::string());
    if (o.row) {
      if (d.recent_rows.size() < kRecentRows) d.recent_rows.push_back(*o.row);
      else d.recent_rows[d.recent_next] = *o.row;
      d.recent_next = (d.recent_next + 1) % kRecentRows;
    }
    if (!segment) return;
    auto s = d.segments.find(*segment);
    if (s == d.segments.end()) {
      // A bounded map: a field with unbounded values (an id, say) must not grow memory forever.
      const bool full = d.segments.size() >= kMaxSegments;
      if (full && !d.overflow_logged) {
        d.overflow_logged = true;
        spdlog::warn("domain {}: more than {} stats_segment values; later ones are counted as \"(other)\"", d.name,
                     kMaxSegments);
      }
      s = d.segments.find(full ? std::string("(other)") : *segment);
      if (s == d.segments.end()) s = d.segments.emplace(full ? std::string("(other)") : *segment, std::make_unique<Ring>()).first;
    }
    add(*s->second);
  } catch (...) {
    // Out of memory for a new segment: the domain total is counted already.
  }
}

namespace {
// The new model's predictions of `rows`, or nothing when it cannot give them.
std::optional<std::vector<sdk::Prediction>> rescore(const std::string& domain, sdk::Model& model,
                                                    const std::vector<sdk::Record>& rows) {
  std::vector<sdk::Prediction> preds;
  if (auto st = model.predict(rows, preds); !st.ok() || preds.size() != rows.size()) {
    spdlog::warn("domain {}: the new model could not rescore {} recent rows, its signals start afresh: {}", domain,
                 rows.size(), st.message);
    return std::nullopt;
  }
  return preds;
}
}  // namespace

void Signals::labelled(const sdk::DecisionRecord& dec, double weight) noexcept {
  auto it = domains_.find(dec.domain);
  if (it == domains_.end() || dec.model_version.empty() || dec.final_label.empty()) return;
  try {
    Calibration::Labelled l{data::record_from_json(json::parse(dec.input_json)), dec.final_label, weight};
    std::lock_guard lock(it->second->mu);
    it->second->calibration.add(std::move(l), dec.model_version, dec.label, dec.confidence);
  } catch (...) {
    // An erased or unreadable input: the outcome is not kept.
  }
}

std::optional<double> Signals::calibrated(const std::string& domain, double confidence) const noexcept {
  auto it = domains_.find(domain);
  if (it == domains_.end()) return std::nullopt;
  std::lock_guard lock(it->second->mu);
  return it->second->calibration.calibrated(confidence);
}

std::size_t Signals::recalibrate(const std::string& domain, sdk::Model& model) noexcept {
  auto it = domains_.find(domain);
  if (it == domains_.end()) return 0;
  Domain& d = *it->second;
  try {
    std::vector<sdk::Record> rows, labelled_rows;
    std::vector<Calibration::Labelled> labelled;
    {
      std::lock_guard lock(d.mu);
      rows = d.recent_rows;
      labelled = d.calibration.kept();
    }
    for (const auto& l : labelled) labelled_rows.push_back(l.row);
    const std::string version = model.version();
    if (!labelled_rows.empty())
      if (auto preds = rescore(domain, model, labelled_rows)) {
        std::lock_guard lock(d.mu);
        d.calibration.refit(version, labelled, *preds);
      }
    if (rows.empty()) return 0;
    const auto preds = rescore(domain, model, rows);
    if (!preds) return 0;
    std::vector<double> confidences;
    confidences.reserve(preds->size());
    for (const auto& p : *preds) confidences.push_back(p.confidence);
    std::lock_guard lock(d.mu);
    d.confidences.recalibrate(confidences, version);
    return rows.size();
  } catch (...) {
    return 0;  // out of memory: the window starts with the live predictions
  }
}

void Signals::refresh_open_tasks(const std::string& domain, std::int64_t now_ms) noexcept {
  auto it = domains_.find(domain);
  if (it == domains_.end() || !queue_) return;
  Domain& d = *it->second;
  std::int64_t due = d.next_refresh_ms.load(std::memory_order_relaxed);
  if (now_ms < due || !d.next_refresh_ms.compare_exchange_strong(due, now_ms + kOpenTasksRefreshMs)) return;
  sdk::QueueDepth depth;
  auto st = queue_->depth(domain, now_ms, depth);
  if (st.ok()) d.open_tasks.store(depth.ready + depth.leased, std::memory_order_relaxed);
  else spdlog::debug("signals: queue depth of domain {} unknown, keeping {}: {}", domain, d.open_tasks.load(), st.message);
}

policy::StatsStatus Signals::window(const std::string& domain, const std::string* segment, std::int64_t window_seconds,
                                    std::int64_t now_ms, policy::WindowFigures& out) const noexcept {
  out = policy::WindowFigures{};
  auto it = domains_.find(domain);
  if (it == domains_.end()) return policy::StatsStatus::unknown_domain;
  const Domain& d = *it->second;
  if (window_seconds < 1 || window_seconds > max_window_seconds()) return policy::StatsStatus::bad_window;
  if (segment && d.segment_key.empty()) return policy::StatsStatus::no_segment_field;
  out.window_seconds = window_seconds;
  // The current bucket and the ones before it that fit in the window: at most the oldest
  // 10 seconds of the window are left out.
  const std::int64_t last = slot_of(now_ms);
  const std::int64_t n = (window_seconds * 1000 + kBucketMs - 1) / kBucketMs;
  const std::int64_t first = last - n + 1;
  {
    std::lock_guard lock(d.mu);
    d.sample_reviews(last);
    policy::WindowFigures reviews;
    d.total.sum(first, last, reviews);
    if (segment) {
      auto s = d.segments.find(*segment);
      if (s != d.segments.end()) s->second->sum(first, last, out);
    } else {
      out = reviews;
    }
    out.window_seconds = window_seconds;
    out.reviews = reviews.reviews;  // reviews and open tasks are per domain only
  }
  out.open_tasks = d.open_tasks.load(std::memory_order_relaxed);
  return policy::StatsStatus::ok;
}

}  // namespace hitl::service
