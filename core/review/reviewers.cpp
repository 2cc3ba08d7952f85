#include "review/reviewers.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "data/client_json.hpp"
#include "common/service_error.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace hitl::service {
using nlohmann::json;

std::vector<std::string> split_list(const std::string& csv) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= csv.size()) {
    std::size_t end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    std::string item = csv.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

bool list_contains(const std::string& csv, const std::string& item) {
  for (auto& x : split_list(csv))
    if (x == item) return true;
  return false;
}

namespace {
std::string normalized(const std::string& csv) {
  std::string out;
  for (auto& x : split_list(csv)) out += (out.empty() ? "" : ",") + x;
  return out;
}

json reviewer_json(const sdk::ReviewerRecord& r) {
  return {{"id", r.id},         {"name", r.name},         {"roles", r.roles},
          {"domains", r.domains}, {"skills", r.skills},   {"capacity", r.capacity},
          {"cost_per_hour", r.cost_per_hour}, {"disabled", r.disabled}};
}
}  // namespace

ReviewerDirectory::ReviewerDirectory(sdk::Storage& storage, Commit commit) : storage_(storage), commit_(std::move(commit)) {}

void ReviewerDirectory::refresh_locked(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now < fresh_until_) return;
  std::vector<sdk::ReviewerRecord> rows;
  auto st = storage_.list_reviewers(rows);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
  cache_ = std::move(rows);
  fresh_until_ = now + std::chrono::seconds(5);
}

sdk::ReviewerRecord ReviewerDirectory::put(sdk::ReviewerRecord r, const std::string& actor) {
  auto bad = [](const std::string& field, const std::string& msg) {
    throw ServiceError(422, "invalid_field", field + ": " + msg, field);
  };
  check_client_text(r.id, "id", 128);
  if (r.id.find_first_of(",/ ") != std::string::npos)
    bad("id", "1..128 characters without commas, slashes or spaces (the reviewer's token name)");
  check_client_text(r.name, "name", 200, /*may_be_empty=*/true);
  for (auto [field, list] : {std::pair<const char*, const std::string*>{"roles", &r.roles}, {"domains", &r.domains},
                             {"skills", &r.skills}}) {
    const auto items = split_list(*list);
    if (items.size() > 64) bad(field, "at most 64 entries");
    for (auto& item : items) check_client_text(item, field, 64);
  }
  if (r.capacity < 1 || r.capacity > 10000) bad("capacity", "expected an integer 1..10000");
  if (!(r.cost_per_hour >= 0) || std::isinf(r.cost_per_hour)) bad("cost_per_hour", "expected a non-negative number");
  r.roles = normalized(r.roles.empty() ? "reviewer" : r.roles);
  r.domains = normalized(r.domains);
  r.skills = normalized(r.skills);
  if (r.name.empty()) r.name = r.id;
  std::lock_guard lock(mu_);
  refresh_locked(true);
  const std::int64_t now = now_ms();
  auto it = std::find_if(cache_.begin(), cache_.end(), [&](const auto& x) { return x.id == r.id; });
  r.created_ms = it == cache_.end() ? now : it->created_ms;
  r.updated_ms = now;
  sdk::WriteBatch b;
  b.reviewers.push_back(r);
  b.audit.push_back(audit::make_record(now, actor, it == cache_.end() ? "reviewer.added" : "reviewer.updated", "",
                                       audit::Entity::reviewer, r.id, reviewer_json(r).dump()));
  auto st = commit_(b);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
  refresh_locked(true);
  spdlog::info("reviewer {} id={} by={}", it == cache_.end() ? "added" : "updated", r.id, actor);
  return r;
}

sdk::ReviewerRecord ReviewerDirectory::set_disabled(const std::string& id, bool disabled, const std::string& actor) {
  auto r = find(id, /*fresh=*/true);
  if (!r) throw ServiceError(404, "not_found", "no reviewer \"" + id + "\"", "id");
  std::lock_guard lock(mu_);
  const std::int64_t now = now_ms();
  r->disabled = disabled;
  r->updated_ms = now;
  sdk::WriteBatch b;
  b.reviewers.push_back(*r);
  b.audit.push_back(audit::make_record(now, actor, disabled ? "reviewer.disabled" : "reviewer.enabled", "",
                                       audit::Entity::reviewer, id, reviewer_json(*r).dump()));
  auto st = commit_(b);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
  refresh_locked(true);
  return *r;
}

std::vector<sdk::ReviewerRecord> ReviewerDirectory::list() {
  std::lock_guard lock(mu_);
  refresh_locked(false);
  return cache_;
}

std::optional<sdk::ReviewerRecord> ReviewerDirectory::find(const std::string& id, bool fresh) {
  std::lock_guard lock(mu_);
  refresh_locked(fresh);
  for (auto& r : cache_)
    if (r.id == id) return r;
  return std::nullopt;
}

sdk::ReviewerRecord ReviewerDirectory::effective(const std::string& id) {
  if (auto r = find(id)) return *r;
  sdk::ReviewerRecord r;
  r.id = r.name = id;
  r.roles = "reviewer";
  r.capacity = 1000000;  // unregistered: no limit (register the reviewer to set one)
  return r;
}

}  // namespace hitl::service
