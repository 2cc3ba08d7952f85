#include "learning/live_guard.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/statistics.hpp"
#include "learning/cycle.hpp"
#include "learning/training.hpp"
#include "registry/registry.hpp"
#include "report/report.hpp"

#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>

namespace hitl::learning {
using nlohmann::json;

namespace {

bool audit_outcome(const sdk::DecisionRecord& d) {
  return d.reason == report::kAuditReason && !d.final_outcome.empty() && !d.model_version.empty();
}

// The key the seed's read and outcome() name a final outcome by (learning/seed_hold.hpp): the
// decision and the time of its final outcome (a decision sent back and answered again has another).
SeedKey outcome_key(const sdk::DecisionRecord& d) { return {d.id, 0, d.final_ms}; }

// When registry version `id` last went live (its newest promotion in the history); 0 when it never
// did: the configured artifact, live from the start.
std::int64_t live_since(const registry::Registry& reg, const std::string& domain, const std::string& id) {
  std::int64_t since = 0;
  for (const auto& h : reg.history(domain))
    if (h.value("id", json()).is_string() && h["id"] == id && h.value("action", "") == "promote")
      since = h.value("since_ms", std::int64_t{0});
  return since;
}

// The live version and the one it replaced, when the guard may judge it: a promotion of a newer
// version over an older one (a rollback goes the other way and is never judged).
struct Pair {
  registry::ModelVersion live, previous;
};
std::optional<Pair> promoted_pair(const registry::Registry& reg, const std::string& domain) {
  const auto live = reg.live(domain);
  if (live.id.empty() || live.previous.empty()) return std::nullopt;
  auto now = reg.find(domain, live.id);
  auto before = reg.find(domain, live.previous);
  if (!now || !before || now->created_ms <= before->created_ms) return std::nullopt;
  if (now->plugin_version.empty() || before->plugin_version.empty() || now->plugin_version == before->plugin_version)
    return std::nullopt;  // the decisions cannot tell the two models apart
  return Pair{*now, *before};
}

}  // namespace

LiveGuard::LiveGuard(Deps deps) : deps_(std::move(deps)) {}

bool LiveGuard::outcome(const sdk::DecisionRecord& d) noexcept {
  if (!audit_outcome(d)) return false;
  try {
    std::lock_guard lock(mu_);
    Sample s{d.model_version, d.final_label == d.label};
    if (!seeds_[d.domain].hear(outcome_key(d), s)) return false;  // held for the seed's read, or in it already
    count(d.domain, s);
    return true;
  } catch (...) {
    return false;  // out of memory: the guard waits for the next sample
  }
}

void LiveGuard::count(const std::string& domain, const Sample& s) {
  auto& c = counts_[{domain, s.model_version}];
  ++c.samples;
  if (s.right) ++c.right;
}

LiveGuard::Counts LiveGuard::counts(const std::string& domain, const std::string& model_version) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find({domain, model_version});
  return it == counts_.end() ? Counts{} : it->second;
}

void LiveGuard::seed(const std::string& domain) {
  const auto& dc = deps_.cfg.domains.at(domain);
  if (dc.retrain_guard_min_samples == 0) return;
  const registry::Registry reg(deps_.cfg.registry_dir);
  const auto pair = promoted_pair(reg, domain);
  if (!pair) return;
  const std::int64_t from_ms = live_since(reg, domain, pair->previous.id);
  {
    std::lock_guard lock(mu_);
    seeds_[domain].begin();  // from here on, live audit outcomes wait for the read
  }
  std::optional<AuditRead> read;
  try {
    read = read_since(domain, from_ms);
  } catch (...) {
    end_seed(domain, std::nullopt);
    throw;
  }
  end_seed(domain, std::move(read));
}

LiveGuard::AuditRead LiveGuard::read_since(const std::string& domain, std::int64_t from_ms) const {
  AuditRead read;
  sdk::DecisionFilter filter;
  filter.domain = domain;
  filter.from_ms = from_ms;
  filter.with_payload = false;
  for (;;) {
    std::vector<sdk::DecisionRecord> page;
    if (auto st = deps_.storage.list_decisions(filter, page); !st.ok()) throw std::runtime_error(st.message);
    for (auto& d : page) {
      if (!audit_outcome(d)) continue;
      auto& c = read.by_version[d.model_version];
      ++c.samples;
      if (d.final_label == d.label) ++c.right;
      read.seen.insert(outcome_key(d));
    }
    if (page.size() < filter.limit) break;
    filter.after_created_ms = page.back().created_ms;
    filter.after_id = page.back().id;
  }
  return read;
}

void LiveGuard::end_seed(const std::string& domain, std::optional<AuditRead> read) {
  std::lock_guard lock(mu_);
  std::optional<SeedSeen> seen;
  if (read) {
    // Outcomes heard before the read began are in storage too: its figures replace them.
    for (auto& [version, c] : read->by_version) counts_[{domain, version}] = c;
    seen = std::move(read->seen);
  }
  seeds_[domain].end(std::move(seen), [&](const Sample& s) { count(domain, s); });
}

std::string LiveGuard::judge(const std::string& domain) {
  const auto& dc = deps_.cfg.domains.at(domain);
  if (dc.retrain_guard_min_samples == 0) return "";
  registry::Registry reg(deps_.cfg.registry_dir);
  const auto pair = promoted_pair(reg, domain);
  if (!pair) return "";
  {
    std::lock_guard lock(mu_);
    if (judged_.count({domain, pair->live.id})) return "";
  }
  const Counts now = counts(domain, pair->live.plugin_version), before = counts(domain, pair->previous.plugin_version);
  if (now.samples < dc.retrain_guard_min_samples || before.samples == 0) return "";
  const auto t = statistics::two_proportion_test(double(before.right), double(before.samples), double(now.right),
                                                 double(now.samples));
  const double alpha = 1 - dc.retrain_promote_confidence;
  char figures[320];
  std::snprintf(figures, sizeof figures,
                "audited accuracy %.4f (%lld of %lld) against %s's %.4f (%lld of %lld), one-sided p %.4f %s %.4f",
                t.share2, (long long)now.right, (long long)now.samples, pair->previous.id.c_str(), t.share1,
                (long long)before.right, (long long)before.samples, t.p_value, t.p_value < alpha ? "<" : ">=", alpha);
  std::string verdict;
  if (t.p_value < alpha) {
    const auto artifact = live_artifact(deps_.cfg, domain);
    const auto live = reg.rollback(domain, artifact, now_ms(), audit::kSystemActor,
                                   "live guard: " + pair->live.id + " " + figures);
    sdk::WriteBatch batch;
    batch.audit.push_back(swap_audit("model.rolled_back", domain, live, artifact, deps_.cfg.registry_dir));
    {
      std::lock_guard lock(mu_);
      judged_.insert({domain, pair->live.id});  // rolled back: never again, whatever the audit write does
    }
    if (deps_.rolled_back) deps_.rolled_back();
    if (auto st = deps_.commit(batch); !st.ok()) throw std::runtime_error("cannot audit model.rolled_back: " + st.message);
    return "rolled back " + pair->live.id + ": " + figures;
  }
  std::lock_guard lock(mu_);
  judged_.insert({domain, pair->live.id});
  return "kept " + pair->live.id + ": " + figures;
}

}  // namespace hitl::learning
