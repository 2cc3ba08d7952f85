#include "governance/auth.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "common/service_error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace hitl::service {

bool Principal::may_access(const std::string& domain) const {
  return domains.empty() || std::find(domains.begin(), domains.end(), domain) != domains.end();
}

std::optional<Role> parse_role(const std::string& s) {
  if (s == "admin") return Role::admin;
  if (s == "reviewer") return Role::reviewer;
  if (s == "client") return Role::client;
  return std::nullopt;
}

const char* role_name(Role r) {
  switch (r) {
    case Role::admin: return "admin";
    case Role::reviewer: return "reviewer";
    case Role::client: return "client";
  }
  return "?";
}

TokenService::TokenService(std::shared_ptr<sdk::Storage> storage) : storage_(std::move(storage)) {}

TokenService::NewToken TokenService::prepare(const std::string& role, const std::string& name,
                                             const std::vector<std::string>& domains, const std::string& actor) {
  if (!parse_role(role))
    throw ServiceError(422, "invalid_field", "role must be admin, reviewer or client, got \"" + role + "\"", "role");
  if (name.empty() || name.size() > 128)
    throw ServiceError(422, "invalid_field", "name must be 1..128 characters", "name");
  std::string joined;
  for (auto& d : domains) joined += (joined.empty() ? "" : ",") + d;
  NewToken out;
  out.secret = "hitl_" + random_hex(24);
  sdk::TokenRecord& t = out.record;
  t.name = name;
  t.role = role;
  t.domains = joined;
  t.hash = sha256_hex(out.secret);
  t.created_ms = now_ms();
  out.batch.tokens.push_back(t);
  out.batch.audit.push_back(audit::make_record(t.created_ms, actor, "token.created", "", audit::Entity::token, name,
                                               nlohmann::json{{"role", role}, {"domains", joined}}.dump()));
  return out;
}

std::string TokenService::create(sdk::Storage& storage, const std::string& role,
                                 const std::string& name, const std::vector<std::string>& domains,
                                 const std::string& actor) {
  NewToken t = prepare(role, name, domains, actor);
  auto st = storage.commit(t.batch);
  if (!st.ok()) throw ServiceError(500, "storage_error", "could not store the token: " + st.message);
  return t.secret;
}

sdk::WriteBatch TokenService::revocation(const std::string& name, const std::string& actor, std::int64_t& revoked_ms) {
  sdk::WriteBatch batch;
  sdk::TokenRecord t;
  t.name = name;
  t.role = "client";  // never read: a revoked row authenticates nobody
  t.hash = "revoked-" + random_hex(32);
  t.created_ms = revoked_ms = now_ms();
  t.revoked = true;
  batch.tokens.push_back(t);
  batch.audit.push_back(audit::make_record(t.created_ms, actor, "token.revoked", "", audit::Entity::token, name, "{}"));
  return batch;
}

void TokenService::forget_cached() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

std::optional<Principal> TokenService::authenticate(const std::string& header) {
  // The scheme name is case-insensitive (RFC 7235); the token itself is not.
  static const std::string prefix = "bearer ";
  if (header.size() <= prefix.size()) return std::nullopt;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != prefix[i]) return std::nullopt;
  std::string hash = sha256_hex(std::string_view(header).substr(prefix.size()));
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && it->second.until > now) return it->second.principal;
  }
  std::optional<sdk::TokenRecord> rec;
  auto st = storage_->find_token(hash, rec);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", "cannot check the token: " + st.message);
  std::optional<Principal> p;
  if (rec && !rec->revoked) {
    Principal pr;
    pr.name = rec->name;
    pr.role = parse_role(rec->role).value_or(Role::client);
    std::stringstream ss(rec->domains);
    for (std::string d; std::getline(ss, d, ',');)
      if (!d.empty()) pr.domains.push_back(d);
    p = pr;
  }
  if (!p) return p;  // unknown tokens are not cached: one created later must work at once
  std::lock_guard lock(mu_);
  if (cache_.size() > 10000) cache_.clear();  // bounded
  cache_[hash] = Cached{*p, now + std::chrono::seconds(kCacheSeconds)};
  return p;
}

}  // namespace hitl::service
