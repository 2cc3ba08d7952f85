#pragma once
// Bearer tokens: "hitl_" + 48 hex chars. Only the SHA-256 of a token is stored.
#include <hitl/plugin_api.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace hitl::service {

enum class Role { admin, reviewer, client };

struct Principal {
  std::string name;
  Role role = Role::client;
  std::vector<std::string> domains;  // empty = every domain
  bool may_access(const std::string& domain) const;
};

std::optional<Role> parse_role(const std::string& s);
const char* role_name(Role r);


// Whether `storage` has storage 1.1's token life cycle (expiry, last use, the list): a plugin of
// storage 1.0 has no such vtable slots.
bool has_token_life(const std::shared_ptr<sdk::Storage>& storage);

// A token's expiry from the API's `expires_in` ("30d", "12h", "90m", "45s": 1 s .. 3650 d) or
// `expires_at` (as parse_time_ms reads it): 0 when both are empty. Throws ServiceError 422
// naming the field for a bad value, a time not in the future, or both at once.
std::int64_t token_expiry_ms(const std::string& expires_in, const std::string& expires_at, std::int64_t now_ms);

enum class TokenState { active, expired, revoked };
TokenState token_state(const sdk::TokenInfo& t, std::int64_t now_ms);
const char* token_state_name(TokenState s);
// A token as the API and `hitl token list --json` show it (never its hash; null for "never").
nlohmann::json token_json(const sdk::TokenInfo& t, std::int64_t now_ms);

class TokenService {
 public:
  TokenService(std::shared_ptr<sdk::Storage> storage);
  // Makes a token, stores its hash (with an audit record), returns the secret. Throws
  // ServiceError (422) for a bad role or name, or an expiry the storage cannot keep.
  static std::string create(const std::shared_ptr<sdk::Storage>& storage, const std::string& role,
                            const std::string& name, const std::vector<std::string>& domains, const std::string& actor,
                            std::int64_t expires_ms = 0);
  // What create() commits, for a caller that commits through the service's writer.
  struct NewToken {
    std::string secret;  // shown once
    sdk::TokenRecord record;
    sdk::WriteBatch batch;
    std::vector<sdk::TokenExpiry> expiries;  // its expiry, when it has one
  };
  // `expires_ms`: 0 = never, else a time after now.
  static NewToken prepare(const std::string& role, const std::string& name, const std::vector<std::string>& domains,
                          const std::string& actor, std::int64_t expires_ms = 0);
  // Commits a prepared token with its expiry (on the writer thread in `hitl serve`). Throws
  // ServiceError 422 when it has an expiry and `life_cycle` (has_token_life) is false.
  static sdk::Status commit(sdk::Storage& storage, NewToken& token, bool life_cycle);
  // What revoking the token named `name` commits: its row gets a hash no secret has and the
  // revoked flag (storage keeps one token per name), so the old secret matches nothing; audited
  // token.revoked. `revoked_ms` is set to the time recorded.
  static sdk::WriteBatch revocation(const std::string& name, const std::string& actor, std::int64_t& revoked_ms);
  // Drops every cached principal: after a revocation the token is refused at once, not within
  // kCacheSeconds.
  void forget_cached();
  // The principal for an "Authorization" header value, or nullopt. An expired token throws
  // ServiceError 401 saying when it expired. Each success is remembered as the token's last use.
  std::optional<Principal> authenticate(const std::string& authorization_header);

  bool life_cycle() const { return life_cycle_; }
  // Every token (storage 1.1), with the last uses not yet written; ServiceError 501 on 1.0.
  std::vector<sdk::TokenInfo> list();
  // The last uses since the previous call, to be written (record_token_uses). Called once a
  // minute by housekeeping and at shutdown: that is the resolution of "last used" in storage.
  std::vector<sdk::TokenUse> take_uses();

 private:
  std::optional<Principal> lookup(const std::string& hash, std::int64_t& expires_ms);
  void used(const std::string& name, std::int64_t now);

  std::shared_ptr<sdk::Storage> storage_;
  const bool life_cycle_;
  std::mutex mu_;
  // Known tokens by hash, each until a deadline: a revoked or replaced token (written by
  // `hitl token create` in another process) stops working within kCacheSeconds; an expired one
  // at its expiry, cached or not.
  struct Cached {
    Principal principal;
    std::int64_t expires_ms = 0;
    std::chrono::steady_clock::time_point until;
  };
  // Last uses by token name not yet taken (bounded by the number of tokens that authenticate).
  std::unordered_map<std::string, std::int64_t> uses_;
  static constexpr int kCacheSeconds = 5;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace hitl::service
