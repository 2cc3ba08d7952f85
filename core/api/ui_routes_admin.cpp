// Admin routes of the web UI: tokens (create, revoke), the audit chain's verification, and model
// promotion / rollback as `hitl model promote|rollback` do them, from the browser.
#include "api/handlers.hpp"
#include "api/ui_routes.hpp"

#include "audit/audit_chain.hpp"
#include "common/clock.hpp"
#include "learning/compare.hpp"
#include "learning/cycle.hpp"
#include "learning/training.hpp"
#include "registry/registry.hpp"
#include "api/api_body.hpp"
#include "app/app.hpp"
#include "cluster/cluster.hpp"
#include "governance/auth.hpp"
#include "data/client_json.hpp"
#include "review/reviewers.hpp"
#include "common/service_error.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace hitl::ui {
using nlohmann::json;
using service::ServiceError;

namespace {

void commit(service::App& app, sdk::WriteBatch& batch, const char* what) {
  if (auto st = app.writer().submit_sync(batch); !st.ok())
    throw ServiceError(503, "storage_unavailable", std::string(what) + " not stored: " + st.message);
}

// expires_at as milliseconds since the epoch or as text (service::token_expiry_ms reads both).
std::string expires_at_field(const json& b) {
  auto it = b.find("expires_at");
  if (it == b.end() || it->is_null()) return "";
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  if (it->is_string()) return it->get<std::string>();
  throw ServiceError(422, "invalid_field", "expires_at: expected milliseconds since the epoch or a UTC date-time", "expires_at");
}

void check_token_name(const std::string& name) {
  service::check_client_text(name, "name", 128);
  if (name.find('/') != std::string::npos) throw ServiceError(422, "invalid_field", "name: must not contain /", "name");
}

// POST /v1/admin/tokens {"name", "role", "domains"?, "expires_in"? | "expires_at"?}: the secret is
// in the reply, once.
void create(service::App& app, const http::Request& req, const service::Principal& who, http::Respond& respond) {
  json b = service::body_object(req, {"name", "role", "domains", "expires_in", "expires_at"}, false,
                                app.config().max_json_depth);
  const std::string name = service::string_field(b, "name", true);
  check_token_name(name);
  std::vector<std::string> domains;
  if (auto it = b.find("domains"); it != b.end() && !it->is_null()) {
    if (!it->is_array()) throw ServiceError(422, "invalid_field", "domains: expected a list of domain names", "domains");
    for (auto& d : *it) {
      if (!d.is_string() || !app.config().domains.count(d.get<std::string>()))
        throw ServiceError(422, "invalid_field", "domains: expected names of configured domains", "domains");
      domains.push_back(d.get<std::string>());
    }
  }
  const std::int64_t expires_ms = service::token_expiry_ms(service::string_field(b, "expires_in"),
                                                           expires_at_field(b), now_ms());
  auto t = service::TokenService::prepare(service::string_field(b, "role", true), name, domains, who.name, expires_ms);
  const bool life_cycle = app.tokens().life_cycle();
  auto st = app.writer().call_sync([&](sdk::Storage& s) { return service::TokenService::commit(s, t, life_cycle); });
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", "token not stored: " + st.message);
  app.tokens_changed();  // a replaced token (same name) stops working at once, on every instance
  respond(service::reply({{"name", t.record.name}, {"role", t.record.role}, {"domains", domains},
                          {"created_ms", t.record.created_ms}, {"expires_ms", expires_ms ? json(expires_ms) : json(nullptr)},
                          {"token", t.secret}}, 201));
}

// GET /v1/admin/tokens: every token, revoked and expired ones included, never a secret or hash.
void list(service::App& app, http::Respond& respond) {
  const std::int64_t now = now_ms();
  json tokens = json::array();
  for (const auto& t : app.tokens().list()) tokens.push_back(service::token_json(t, now));
  respond(service::reply({{"tokens", std::move(tokens)}}));
}

// POST /v1/admin/tokens/{name}/revoke: refused at once here and by the other instances sharing the
// database (the caches are dropped, app/app.hpp), within its 5 s cache by another process.
void revoke(service::App& app, std::string_view name_part, const service::Principal& who, http::Respond& respond) {
  const std::string name(name_part);
  check_token_name(name);
  std::int64_t revoked_ms = 0;
  sdk::WriteBatch batch = service::TokenService::revocation(name, who.name, revoked_ms);
  commit(app, batch, "revocation");
  app.tokens_changed();
  respond(service::reply({{"name", name}, {"revoked", true}, {"revoked_ms", revoked_ms}}));
}

// GET /v1/admin/audit/verify: walks the whole chain (slow lane).
void verify(service::App& app, http::Respond& respond) {
  audit::VerifyResult r;
  try {
    r = audit::verify_chain(app.storage());
  } catch (const std::exception& e) {
    throw ServiceError(503, "storage_unavailable", std::string("audit verify: ") + e.what());
  }
  json out = {{"ok", r.ok}, {"records", r.records}, {"head_seq", r.head.seq}, {"head_hash", r.head.hash},
              {"checked_ms", now_ms()}};
  out["bad_seq"] = r.ok ? json(nullptr) : json(r.bad_seq);
  out["error"] = r.ok ? json(nullptr) : json(r.reason);
  respond(service::reply(out));
}

// POST /v1/admin/domains/{d}/models/{id}/promote | /models/rollback {"reason"?} (slow lane).
void swap_model(service::App& app, const http::Request& req, const std::string& domain, const std::string* id,
                const service::Principal& who, http::Respond& respond) {
  json b = service::body_object(req, {"reason"}, true, app.config().max_json_depth);
  const std::string reason = service::string_field(b, "reason");
  service::check_client_text(reason, "reason", service::kMaxFreeTextChars, true, true);
  const auto& cfg = app.config();
  registry::Live live;
  std::filesystem::path artifact;
  try {
    artifact = learning::live_artifact(cfg, domain);
    registry::Registry reg(cfg.registry_dir, learning::artifact_versions(app.plugins(), cfg, domain));
    live = id ? reg.promote(domain, *id, artifact, now_ms(), who.name, reason)
              : reg.rollback(domain, artifact, now_ms(), who.name, reason);
  } catch (const std::exception& e) {
    throw ServiceError(409, id ? "not_promoted" : "not_rolled_back", e.what(), id ? "id" : "");
  }
  sdk::WriteBatch batch;
  batch.audit.push_back(learning::swap_audit(id ? "model.promoted" : "model.rolled_back", domain, live, artifact, cfg.registry_dir));
  commit(app, batch, "audit record");
  app.reload_models();  // live now rather than at the housekeeping thread's next look
  // The other instances sharing the database install it from there at once (not at their poll).
  app.cluster().publish({cluster::EventKind::model_promoted, "", "", false});
  respond(service::reply({{"domain", domain}, {"live", registry::to_json(live)}}));
}

}  // namespace

// Tokens are global, so only an unscoped admin reaches these (the route table's unscoped_admin).
void list_tokens(RouteCall& c) { list(c.app, c.respond); }
void create_token(RouteCall& c) { create(c.app, c.req, c.who, c.respond); }
void revoke_token(RouteCall& c) { revoke(c.app, c.params[0], c.who, c.respond); }
void verify_audit(RouteCall& c) { verify(c.app, c.respond); }

void promote_model(RouteCall& c) {
  const std::string domain = domain_of(c.app, c.params[0], c.who);
  const std::string id(c.params[1]);
  swap_model(c.app, c.req, domain, &id, c.who, c.respond);
}

void rollback_model(RouteCall& c) { swap_model(c.app, c.req, domain_of(c.app, c.params[0], c.who), nullptr, c.who, c.respond); }

}  // namespace hitl::ui
