#include "governance/auth.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "common/service_error.hpp"
#include "plugin/plugin_registry.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace hitl::service {

namespace {

// "a,b" as storage keeps a token's domains -> {"a", "b"}.
std::vector<std::string> split_domains(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream ss(csv);
  for (std::string d; std::getline(ss, d, ',');)
    if (!d.empty()) out.push_back(d);
  return out;
}

}  // namespace

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

bool has_token_life(const std::shared_ptr<sdk::Storage>& storage) {
  const auto api = plugin::api_of(storage);
  return !api || api->minor >= 1;  // no plugin made it (a test double): it has the whole interface
}

std::int64_t token_expiry_ms(const std::string& expires_in, const std::string& expires_at, std::int64_t now) {
  if (!expires_in.empty() && !expires_at.empty())
    throw ServiceError(422, "invalid_field", "give expires_in or expires_at, not both", "expires_at");
  if (!expires_at.empty()) {
    const auto at = parse_time_ms(expires_at);
    if (!at || *at <= now)
      throw ServiceError(422, "invalid_field", "expires_at: expected a time in the future (milliseconds since the epoch, "
                         "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", "expires_at");
    return *at;
  }
  if (expires_in.empty()) return 0;
  static constexpr std::int64_t kMaxMs = 3650LL * 86'400'000;
  std::int64_t n = 0;
  const char* end = expires_in.data() + expires_in.size() - 1;
  auto [p, ec] = std::from_chars(expires_in.data(), end, n);
  std::int64_t unit = 0;
  switch (*end) {
    case 's': unit = 1000; break;
    case 'm': unit = 60'000; break;
    case 'h': unit = 3'600'000; break;
    case 'd': unit = 86'400'000; break;
  }
  if (ec != std::errc() || p != end || unit == 0 || n <= 0 || n > kMaxMs / unit)
    throw ServiceError(422, "invalid_field", "expires_in: expected a number and a unit s, m, h or d (e.g. 30d), "
                       "at most 3650d", "expires_in");
  return now + n * unit;
}

TokenState token_state(const sdk::TokenInfo& t, std::int64_t now) {
  if (t.revoked_ms) return TokenState::revoked;
  if (t.expires_ms && now >= t.expires_ms) return TokenState::expired;
  return TokenState::active;
}

const char* token_state_name(TokenState s) {
  switch (s) {
    case TokenState::active: return "active";
    case TokenState::expired: return "expired";
    case TokenState::revoked: return "revoked";
  }
  return "?";
}

nlohmann::json token_json(const sdk::TokenInfo& t, std::int64_t now) {
  auto time = [](std::int64_t ms) { return ms ? nlohmann::json(ms) : nlohmann::json(nullptr); };
  return {{"name", t.name},
          {"role", t.role},
          {"domains", split_domains(t.domains)},
          {"created_ms", t.created_ms},
          {"last_used_ms", time(t.last_used_ms)},
          {"expires_ms", time(t.expires_ms)},
          {"revoked_ms", time(t.revoked_ms)},
          {"state", token_state_name(token_state(t, now))}};
}

TokenService::TokenService(std::shared_ptr<sdk::Storage> storage)
    : storage_(std::move(storage)), life_cycle_(has_token_life(storage_)) {}

TokenService::NewToken TokenService::prepare(const std::string& role, const std::string& name,
                                             const std::vector<std::string>& domains, const std::string& actor,
                                             std::int64_t expires_ms) {
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
  if (expires_ms != 0 && expires_ms <= t.created_ms)
    throw ServiceError(422, "invalid_field", "the expiry must be in the future", "expires_at");
  nlohmann::json detail{{"role", role}, {"domains", joined}};
  if (expires_ms) {
    out.expiries.push_back({t.hash, expires_ms});
    detail["expires_ms"] = expires_ms;
  }
  out.batch.tokens.push_back(t);
  out.batch.audit.push_back(audit::make_record(t.created_ms, actor, "token.created", "", audit::Entity::token, name,
                                               detail.dump()));
  return out;
}

sdk::Status TokenService::commit(sdk::Storage& storage, NewToken& token, bool life_cycle) {
  if (token.expiries.empty()) return storage.commit(token.batch);
  if (!life_cycle)
    throw ServiceError(422, "invalid_field", "the storage plugin (storage interface 1.0) cannot keep a token's expiry: "
                       "upgrade it, or create the token without one", "expires_in");
  return storage.commit_tokens(token.batch, token.expiries);
}

std::string TokenService::create(const std::shared_ptr<sdk::Storage>& storage, const std::string& role,
                                 const std::string& name, const std::vector<std::string>& domains,
                                 const std::string& actor, std::int64_t expires_ms) {
  NewToken t = prepare(role, name, domains, actor, expires_ms);
  auto st = commit(*storage, t, has_token_life(storage));
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
  std::optional<Principal> p;
  std::int64_t expires_ms = 0;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && it->second.until > now) {
      p = it->second.principal;
      expires_ms = it->second.expires_ms;
    }
  }
  if (!p) {
    p = lookup(hash, expires_ms);
    if (!p) return p;  // unknown tokens are not cached: one created later must work at once
    std::lock_guard lock(mu_);
    if (cache_.size() > 10000) cache_.clear();  // bounded
    cache_[hash] = Cached{*p, expires_ms, now + std::chrono::seconds(kCacheSeconds)};
  }
  const std::int64_t wall = now_ms();
  if (expires_ms != 0 && wall >= expires_ms)
    throw ServiceError(401, "unauthorized", "token \"" + p->name + "\" expired at " + format_time_ms(expires_ms));
  used(p->name, wall);
  return p;
}

// The token of `hash` from storage: with its life cycle on storage 1.1, from its row on 1.0.
std::optional<Principal> TokenService::lookup(const std::string& hash, std::int64_t& expires_ms) {
  std::string name, role, domains;
  if (life_cycle_) {
    std::optional<sdk::TokenInfo> info;
    auto st = storage_->find_token_info(hash, info);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", "cannot check the token: " + st.message);
    if (!info || info->revoked_ms) return std::nullopt;
    name = info->name, role = info->role, domains = info->domains, expires_ms = info->expires_ms;
  } else {
    std::optional<sdk::TokenRecord> rec;
    auto st = storage_->find_token(hash, rec);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", "cannot check the token: " + st.message);
    if (!rec || rec->revoked) return std::nullopt;
    name = rec->name, role = rec->role, domains = rec->domains;
  }
  Principal pr;
  pr.name = name;
  pr.role = parse_role(role).value_or(Role::client);
  pr.domains = split_domains(domains);
  return pr;
}

void TokenService::used(const std::string& name, std::int64_t now) {
  if (!life_cycle_) return;  // nowhere to write it
  std::lock_guard lock(mu_);
  if (uses_.size() >= 100'000 && !uses_.count(name)) return;  // bounded; a later flush makes room
  auto& last = uses_[name];
  last = std::max(last, now);
}

std::vector<sdk::TokenUse> TokenService::take_uses() {
  std::lock_guard lock(mu_);
  std::vector<sdk::TokenUse> out;
  out.reserve(uses_.size());
  for (auto& [name, ms] : uses_) out.push_back({name, ms});
  uses_.clear();
  return out;
}

std::vector<sdk::TokenInfo> TokenService::list() {
  if (!life_cycle_)
    throw ServiceError(501, "not_supported", "the storage plugin cannot list tokens (storage interface 1.1 needed)");
  std::vector<sdk::TokenInfo> out;
  if (auto st = storage_->list_tokens(out); !st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  std::lock_guard lock(mu_);
  for (auto& t : out)
    if (auto it = uses_.find(t.name); it != uses_.end()) t.last_used_ms = std::max(t.last_used_ms, it->second);
  return out;
}

}  // namespace hitl::service
