#pragma once
// Bearer tokens: "hitl_" + 48 hex chars. Only the SHA-256 of a token is stored.
#include <hitl/plugin_api.hpp>

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


class TokenService {
 public:
  TokenService(std::shared_ptr<sdk::Storage> storage);
  // Makes a token, stores its hash (with an audit record) through `commit`, returns the secret.
  // Throws ServiceError (422) for a bad role or name.
  static std::string create(sdk::Storage& storage, const std::string& role, const std::string& name,
                            const std::vector<std::string>& domains, const std::string& actor);
  // What create() commits, for a caller that commits through the service's writer.
  struct NewToken {
    std::string secret;  // shown once
    sdk::TokenRecord record;
    sdk::WriteBatch batch;
  };
  static NewToken prepare(const std::string& role, const std::string& name, const std::vector<std::string>& domains,
                          const std::string& actor);
  // What revoking the token named `name` commits: its row gets a hash no secret has and the
  // revoked flag (storage keeps one token per name), so the old secret matches nothing; audited
  // token.revoked. `revoked_ms` is set to the time recorded.
  static sdk::WriteBatch revocation(const std::string& name, const std::string& actor, std::int64_t& revoked_ms);
  // Drops every cached principal: after a revocation the token is refused at once, not within
  // kCacheSeconds.
  void forget_cached();
  // The principal for an "Authorization" header value, or nullopt.
  std::optional<Principal> authenticate(const std::string& authorization_header);

 private:
  std::shared_ptr<sdk::Storage> storage_;
  std::mutex mu_;
  // Known tokens by hash, each until a deadline: a revoked or replaced token (written by
  // `hitl token create` in another process) stops working within kCacheSeconds.
  struct Cached {
    Principal principal;
    std::chrono::steady_clock::time_point until;
  };
  static constexpr int kCacheSeconds = 5;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace hitl::service
