// The learning loop's routes (docs/http-api.md, "Learning loop"): mark gold, queue or inspect a
// retraining, one job, the model registry. The router (api.cpp) checked method and role.
#include "api/handlers.hpp"
#include "api/ui_routes.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "dataset/marked_gold.hpp"
#include "registry/registry.hpp"
#include "api/api_body.hpp"
#include "app/app.hpp"
#include "governance/auth.hpp"
#include "learning/retrain_worker.hpp"
#include "common/service_error.hpp"
#include "store/writer.hpp"

#include <charconv>

namespace hitl::service {
using nlohmann::json;

namespace {

// POST /v1/domains/{d}/decisions/{id}/gold {"reason"?}: a reviewer or an admin keeps a decided
// hard case for every evaluation (dataset/marked_gold.hpp).
void mark_gold(App& app, const http::Request& req, const std::string& domain, const std::string& id,
               const Principal& who, http::Respond& respond) {
  json b = body_object(req, {"reason"}, true, app.config().max_json_depth);
  std::optional<sdk::DecisionRecord> d;
  if (auto st = app.storage().get_decision(domain, id, d); !st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  if (!d) throw ServiceError(404, "not_found", "no decision \"" + id + "\" in domain \"" + domain + "\"", "id");
  if (d->final_label.empty())
    throw ServiceError(409, "not_final", "decision \"" + id + "\" has no final human label yet: only a decided case can be golden");
  auto input = json::parse(d->input_json, nullptr, false);
  if (d->erased_ms || !input.is_object() || input.empty())
    throw ServiceError(409, "erased", "decision \"" + id + "\" has had its payload erased");
  dataset::MarkedCase c;
  c.decision_id = id;
  c.input = std::move(input);
  c.label = d->truth_label.empty() ? d->final_label : d->truth_label;  // a reported truth knows best
  c.model_label = d->label;
  c.model_confidence = d->confidence;
  c.reason = string_field(b, "reason");
  c.marked_by = who.name;
  c.marked_ms = now_ms();
  dataset::MarkedGold gold(app.config().datasets_dir);
  bool created = false;
  try {
    created = !gold.decision_ids(domain).count(id);
  } catch (const std::exception& e) {
    throw ServiceError(503, "golden_set_unavailable", e.what());
  }
  if (created) {
    // Audited first: a failed append after it is retried by the client and audited again,
    // never a marked case without its record.
    sdk::WriteBatch batch;
    batch.audit.push_back(audit::make_record(c.marked_ms, who.name, "gold.marked", domain, audit::Entity::decision, id,
                                             json{{"label", c.label}, {"reason", c.reason}}.dump()));
    if (auto st = app.writer().submit_sync(batch); !st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
    try {
      created = gold.mark(domain, c);
    } catch (const std::exception& e) {
      throw ServiceError(503, "golden_set_unavailable", e.what());
    }
  }
  respond(reply({{"decision_id", id}, {"label", c.label}, {"marked", created}, {"already_marked", !created}}));
}

// GET /v1/admin/domains/{d}/retrain: the domain's training status.
void retrain_status(App& app, const std::string& domain, http::Respond& respond) {
  json st;
  try {
    st = app.retrain().status(domain);
  } catch (const std::exception& e) {  // storage, or a registry file that does not parse (named)
    throw ServiceError(503, "storage_unavailable", e.what());
  }
  respond(reply(st));
}

// POST /v1/admin/domains/{d}/retrain {"reason"?, "promote"?}: queues a training (202).
void request_retrain(App& app, const http::Request& req, const std::string& domain, const Principal& who,
                     http::Respond& respond) {
  json b = body_object(req, {"reason", "promote"}, true, app.config().max_json_depth);
  const std::string reason = string_field(b, "reason");
  std::optional<bool> promote;
  if (auto it = b.find("promote"); it != b.end() && !it->is_null()) {
    if (!it->is_boolean()) throw ServiceError(422, "invalid_field", "promote: expected a boolean", "promote");
    promote = it->get<bool>();
  }
  bool queued = false;
  RetrainJob job;
  try {
    job = app.retrain().request(domain, "admin:" + who.name, reason, promote, queued);
  } catch (const std::invalid_argument& e) {
    throw ServiceError(409, "not_trainable", e.what());
  } catch (const std::logic_error& e) {
    throw ServiceError(503, "shutting_down", e.what());
  } catch (const std::exception& e) {  // the jobs' store (the shared database) away
    throw ServiceError(503, "storage_unavailable", e.what());
  }
  if (!queued)
    throw ServiceError(409, "training_in_progress", "a training of \"" + domain + "\" is already " +
                                                        name_of(job.status) + " (job " + std::to_string(job.id) + ")");
  respond(reply(to_json(job), 202));
}

// GET or DELETE (cancel) /v1/admin/retrain/jobs/{id}; a job outside the token's scope is 404.
void retrain_job(App& app, const http::Request& req, std::string_view id_part, const Principal& who,
                 http::Respond& respond) {
  const auto parsed = positive_id(id_part);
  if (!parsed) throw ServiceError(404, "not_found", "no retrain job " + std::string(id_part));
  const std::int64_t id = *parsed;
  std::optional<RetrainJob> job;
  try {
    job = app.retrain().job(id);
  } catch (const std::exception& e) {  // the jobs' store (the shared database) away
    throw ServiceError(503, "storage_unavailable", e.what());
  }
  if (!job || !who.may_access(job->domain)) throw ServiceError(404, "not_found", "no retrain job " + std::to_string(id));
  if (req.method == "DELETE") {
    try {
      job = app.retrain().cancel(id, who.name);
    } catch (const std::logic_error& e) {
      throw ServiceError(409, "not_cancellable", e.what());
    } catch (const std::exception& e) {
      throw ServiceError(503, "storage_unavailable", e.what());
    }
    if (!job) throw ServiceError(404, "not_found", "no retrain job " + std::to_string(id));
  }
  respond(reply(to_json(*job)));
}

// GET /v1/admin/domains/{d}/models: the registered versions and the live one.
void list_models(App& app, const std::string& domain, http::Respond& respond) {
  json versions = json::array();
  json live;
  try {
    registry::Registry reg(app.config().registry_dir);
    for (auto& v : reg.list(domain)) versions.push_back(registry::to_json(v));
    live = registry::to_json(reg.live(domain));
  } catch (const std::exception& e) {
    throw ServiceError(500, "registry_error", e.what());
  }
  respond(reply({{"domain", domain}, {"live", live}, {"versions", versions}}));
}

}  // namespace

void mark_gold(RouteCall& c) {
  mark_gold(c.app, c.req, ui::domain_of(c.app, c.params[0], c.who), std::string(c.params[1]), c.who, c.respond);
}
void request_retrain(RouteCall& c) { request_retrain(c.app, c.req, ui::domain_of(c.app, c.params[0], c.who), c.who, c.respond); }
void retrain_status(RouteCall& c) { retrain_status(c.app, ui::domain_of(c.app, c.params[0], c.who), c.respond); }
void retrain_job(RouteCall& c) { retrain_job(c.app, c.req, c.params[0], c.who, c.respond); }
void list_models(RouteCall& c) { list_models(c.app, ui::domain_of(c.app, c.params[0], c.who), c.respond); }

}  // namespace hitl::service
