// hitl token create | revoke | list: the token life cycle on the service's host (docs/http-api.md,
// "Authentication"). The admin API does the same through a running service.
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "governance/auth.hpp"
#include "review/reviewers.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

namespace hitl::cli {
namespace {

struct TokenOptions {
  std::string config, role, name, domains, expires_in, expires_at;
  bool json = false;
};

void add_create(CLI::App& token, const std::shared_ptr<TokenOptions>& o) {
  auto* create = token.add_subcommand("create", "Create a token and print it (only its hash is stored)");
  create->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  create->add_option("--role", o->role, "admin | reviewer | client")->required()
      ->check(CLI::IsMember({"admin", "reviewer", "client"}));
  create->add_option("--name", o->name, "Who the token belongs to (unique)")->required();
  create->add_option("--domains", o->domains, "Comma-separated domains the token may use (default: all)");
  create->add_option("--expires-in", o->expires_in, "Refused after this long: 30d, 12h, 90m, 45s (default: never)");
  create->add_option("--expires-at", o->expires_at, "Refused from this time on: YYYY-MM-DD[THH:MM:SSZ] or ms since the epoch");
  create->callback([o] {
    auto cs = open_configured_storage(o->config);
    auto domains = service::split_list(o->domains);
    for (auto& d : domains)
      if (!cs->cfg.domains.count(d)) fail("hitl token create: --domains: unknown domain \"" + d + "\"");
    try {
      const std::int64_t expires_ms = service::token_expiry_ms(o->expires_in, o->expires_at, now_ms());
      std::cout << service::TokenService::create(cs->storage, o->role, o->name, domains, "cli", expires_ms)
                << std::endl;
    } catch (const std::exception& e) {
      fail(std::string("hitl token create: ") + e.what());
    }
  });
}

void add_revoke(CLI::App& token, const std::shared_ptr<TokenOptions>& o) {
  auto* revoke = token.add_subcommand("revoke", "Revoke the token of a name (a running hitl serve refuses it within 5 s)");
  revoke->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  revoke->add_option("--name", o->name, "The token's name")->required();
  revoke->callback([o] {
    auto cs = open_configured_storage(o->config);
    std::int64_t revoked_ms = 0;
    sdk::WriteBatch batch = service::TokenService::revocation(o->name, cli_actor(), revoked_ms);
    if (auto st = cs->storage->commit(batch); !st.ok()) fail("hitl token revoke: " + st.message);
    std::cout << "revoked token " << o->name << std::endl;
  });
}

std::string when(const nlohmann::json& ms) { return ms.is_null() ? "-" : format_time_ms(ms.get<std::int64_t>()); }

void print_table(const nlohmann::json& tokens) {
  std::cout << std::left << std::setw(20) << "name" << std::setw(10) << "role" << std::setw(20) << "domains"
            << std::setw(9) << "state" << std::setw(26) << "created" << std::setw(26) << "last used" << "expires"
            << "\n";
  for (const auto& t : tokens) {
    std::string domains;
    for (const auto& d : t["domains"]) domains += (domains.empty() ? "" : ",") + d.get<std::string>();
    std::cout << std::left << std::setw(20) << t["name"].get<std::string>() << std::setw(10)
              << t["role"].get<std::string>() << std::setw(20) << (domains.empty() ? "(all)" : domains) << std::setw(9)
              << t["state"].get<std::string>() << std::setw(26) << when(t["created_ms"]) << std::setw(26)
              << when(t["last_used_ms"]) << when(t["expires_ms"]) << "\n";
  }
}

void add_list(CLI::App& token, const std::shared_ptr<TokenOptions>& o) {
  auto* list = token.add_subcommand("list", "Every token: role, domains, state, created, last used (to the minute), expiry");
  list->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  list->add_flag("--json", o->json, "One JSON document, as GET /v1/admin/tokens answers");
  list->callback([o] {
    auto cs = open_configured_storage(o->config);
    if (!service::has_token_life(cs->storage))
      fail("hitl token list: the storage plugin cannot list tokens (storage interface 1.1 needed)");
    std::vector<sdk::TokenInfo> infos;
    if (auto st = cs->storage->list_tokens(infos); !st.ok()) fail("hitl token list: " + st.message);
    const std::int64_t now = now_ms();
    nlohmann::json tokens = nlohmann::json::array();
    for (const auto& t : infos) tokens.push_back(service::token_json(t, now));
    if (o->json) std::cout << nlohmann::json{{"tokens", tokens}}.dump(2) << std::endl;
    else print_table(tokens);
  });
}

}  // namespace

void add_token(CLI::App& root) {
  auto o = std::make_shared<TokenOptions>();
  auto* token = root.add_subcommand("token", "Manage API tokens");
  token->require_subcommand(1);
  add_create(*token, o);
  add_revoke(*token, o);
  add_list(*token, o);
}

}  // namespace hitl::cli
