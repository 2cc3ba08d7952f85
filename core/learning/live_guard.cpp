#include "learning/live_guard.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/statistics.hpp"
#include "learning/cycle.hpp"
#include "learning/training.hpp"
#include "registry/registry.hpp"
#include "report/report.hpp"

#include <algorithm>
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
    const auto dc = deps_.cfg.domains.find(d.domain);
    if (dc == deps_.cfg.domains.end() || dc->second.retrain_guard_min_samples == 0) return false;
    std::lock_guard lock(mu_);
    const Counted c{d.model_version, d.final_label == d.label, d.final_ms, d.created_ms};
    // Out of the window: a promotion since may have brought its model in, which judge() looks at.
    if (const auto& w = audited_[d.domain].window; w && !in(*w, c)) return true;
    return merge(d.domain, d.id, c);
  } catch (...) {
    return false;  // out of memory: the guard waits for the next sample
  }
}

bool LiveGuard::in(const Window& w, const Counted& c) {
  const auto it = w.find(c.model_version);
  return it != w.end() && c.created_ms >= it->second;
}

bool LiveGuard::merge(const std::string& domain, const std::string& decision_id, Counted c) {
  auto& a = audited_[domain];
  if (a.window && !in(*a.window, c)) return false;
  auto [it, fresh] = a.latest.try_emplace(decision_id, c);
  if (!fresh) {
    // The same outcome again (a late notice, the read's) or an older one: the latest stands.
    if (c.final_ms <= it->second.final_ms) return false;
    add(domain, it->second, -1);  // sent back and answered again: the new answer replaces it
    it->second = std::move(c);
  }
  add(domain, it->second, +1);
  return true;
}

void LiveGuard::add(const std::string& domain, const Counted& c, int sign) {
  auto& n = counts_[{domain, c.model_version}];
  n.samples += sign;
  if (c.right) n.right += sign;
}

void LiveGuard::keep(const std::string& domain, const Window& w) {
  auto& a = audited_[domain];
  if (a.window == w) return;
  for (const auto& [version, since] : w)
    if (!a.window || !a.window->count(version) || since < a.window->at(version))  // joined: read from storage
      a.unread_from = std::min(a.unread_from.value_or(since), since);
  // Once per change of the window (a promotion, a judgement, a rollback), not per outcome.
  std::erase_if(a.latest, [&](const auto& kv) {
    if (in(w, kv.second)) return false;
    add(domain, kv.second, -1);
    return true;
  });
  a.window = w;
}

LiveGuard::Counts LiveGuard::counts(const std::string& domain, const std::string& model_version) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find({domain, model_version});
  return it == counts_.end() ? Counts{} : it->second;
}

LiveGuard::Window LiveGuard::window(const registry::Registry& reg, const std::string& domain) const {
  Window w;
  const auto live = reg.live(domain);
  const auto now = live.id.empty() ? std::nullopt : reg.find(domain, live.id);
  if (!now || now->plugin_version.empty()) return w;  // the configured model: never judged nor compared with
  // The live model is the predecessor of the next promotion; the one it replaced is compared with
  // until the live one is judged.
  w[now->plugin_version] = live_since(reg, domain, live.id);
  if (const auto pair = promoted_pair(reg, domain)) {
    std::lock_guard lock(mu_);
    if (!judged_.count({domain, pair->live.id}))
      w[pair->previous.plugin_version] = live_since(reg, domain, pair->previous.id);
  }
  return w;
}

void LiveGuard::follow_window(const registry::Registry& reg, const std::string& domain) {
  const auto w = window(reg, domain);
  std::optional<std::int64_t> from;
  {
    std::lock_guard lock(mu_);
    keep(domain, w);
    from = audited_[domain].unread_from;
  }
  if (!from) return;
  Read read = read_since(domain, *from);  // outcomes heard meanwhile merge with it either way
  std::lock_guard lock(mu_);
  for (auto& [id, c] : read) merge(domain, id, std::move(c));
  auto& a = audited_[domain];
  if (a.unread_from == from) a.unread_from.reset();  // else a model joined while it ran: read again
}

void LiveGuard::seed(const std::string& domain) {
  if (deps_.cfg.domains.at(domain).retrain_guard_min_samples == 0) return;
  follow_window(registry::Registry(deps_.cfg.registry_dir), domain);
}

LiveGuard::Read LiveGuard::read_since(const std::string& domain, std::int64_t from_ms) const {
  Read read;
  sdk::DecisionFilter filter;
  filter.domain = domain;
  filter.from_ms = from_ms;
  filter.with_payload = false;
  for (;;) {
    std::vector<sdk::DecisionRecord> page;
    if (auto st = deps_.storage.list_decisions(filter, page); !st.ok()) throw std::runtime_error(st.message);
    for (auto& d : page)
      if (audit_outcome(d))
        read.emplace_back(d.id, Counted{d.model_version, d.final_label == d.label, d.final_ms, d.created_ms});
    if (page.size() < filter.limit) break;
    filter.after_created_ms = page.back().created_ms;
    filter.after_id = page.back().id;
  }
  return read;
}

std::string LiveGuard::judge(const std::string& domain) {
  const auto& dc = deps_.cfg.domains.at(domain);
  if (dc.retrain_guard_min_samples == 0) return "";
  registry::Registry reg(deps_.cfg.registry_dir);
  follow_window(reg, domain);  // throws when storage must be read and cannot: judged once it is
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
