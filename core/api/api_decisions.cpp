// The decision routes (docs/http-api.md): ingest, read a decision or its trace, report the truth
// learnt later, erase a payload, the domain report. The router (api.cpp) checked method and role.
#include "api/handlers.hpp"

#include "api/api_body.hpp"
#include "app/app.hpp"
#include "common/clock.hpp"
#include "common/service_error.hpp"
#include "data/client_json.hpp"
#include "domain/domains.hpp"
#include "governance/auth.hpp"
#include "governance/governance.hpp"
#include "governance/report_service.hpp"
#include "governance/trace.hpp"
#include "ingest/pipeline.hpp"
#include "metrics/metrics.hpp"
#include "notify/notify.hpp"
#include "common/task_state.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace hitl::service {
using nlohmann::json;

namespace {

// Reviewers see the domain's sensitive fields masked; admins and clients (who sent the record)
// see them whole.
void redact_for(const Principal& who, const DomainSettings& dom, json& input, json& meta, json& prediction) {
  if (who.role != Role::reviewer || dom.redactor.empty()) return;
  const Redactor& r = dom.redactor;
  r.input(input);
  r.meta(meta);
  r.prediction(prediction);
}

json decision_json(const sdk::DecisionRecord& d) {
  json j = {{"id", d.id},
            {"domain", d.domain},
            {"status", d.status},
            {"reason", d.reason},
            {"priority", d.priority},
            {"label", d.label},
            {"confidence", d.confidence},
            {"input", parse_or_null(d.input_json)},
            {"prediction", parse_or_null(d.prediction_json)},
            {"meta", parse_or_null(d.meta_json)},
            {"model_version", d.model_version},
            {"policy_hash", d.policy_hash},
            {"created_ms", d.created_ms},
            {"input_hash", d.input_hash}};
  j["erased_ms"] = d.erased_ms ? json(d.erased_ms) : json(nullptr);
  j["truth_label"] = d.truth_label.empty() ? json(nullptr) : json(d.truth_label);
  j["task_id"] = d.task_id ? json(d.task_id) : json(nullptr);
  if (!d.final_outcome.empty()) {
    j["final_label"] = d.final_label;
    j["final_outcome"] = d.final_outcome;
    j["reviewed_ms"] = d.final_ms;
  } else {
    j["final_label"] = nullptr;
  }
  return j;
}

void require_domain(const Principal& p, const std::string& domain) {
  if (!p.may_access(domain))
    throw ServiceError(403, "forbidden", "token \"" + p.name + "\" is not allowed domain \"" + domain + "\"", "domain");
}

IngestLimits ingest_limits(App& app, const std::string& dom) {
  return IngestLimits{app.config().max_json_depth, app.config().max_batch_records, app.domains().require(dom).labels};
}

void ingest(App& app, const std::string& dom, const http::Request& req, const Principal& who,
                 http::Respond& respond) {
  require_domain(who, dom);  // scope first: a scoped token cannot probe which domains exist
  app.domains().require(dom);
  // ?wait=: the reply waits until the request's pending records are final (notify/notify.hpp).
  std::int64_t wait_ms = -1;
  if (auto w = req.query.find("wait"); w != req.query.end())
    wait_ms = Notifier::parse_wait_ms(w->second, app.config().max_wait_seconds);
  // Backpressure: at max_open_tasks open review tasks nothing of the request is accepted.
  if (const auto max_open = app.config().domains.at(dom).max_open_tasks; max_open > 0) {
    sdk::QueueDepth depth;
    auto st = app.queue().depth(dom, now_ms(), depth);
    if (!st.ok()) {
      spdlog::warn("backpressure: queue depth unknown domain={} (accepting): {}", dom, st.message);
    } else if (depth.ready + depth.leased >= max_open) {
      auto r = error_reply(429, "too_many_open_tasks",
                              "domain \"" + dom + "\" has " + std::to_string(depth.ready + depth.leased) +
                                  " open review tasks (max_open_tasks " + std::to_string(max_open) +
                                  "): nothing was stored, retry later");
      r.headers.emplace_back("Retry-After", "5");
      app.metrics().http_errors++;
      respond(std::move(r));
      return;
    }
  }
  std::shared_ptr<Notifier::Slot> slot;  // taken before anything is stored
  if (wait_ms >= 0 && !(slot = app.notifier().reserve()))
    throw ServiceError(503, "too_many_waiters", "more than " + std::to_string(Notifier::kMaxWaiters) +
                       " requests are waiting: retry later or without wait");
  bool single = false;
  const auto format = req.header("content-type").find("ndjson") != std::string::npos ? BodyFormat::ndjson : BodyFormat::json;
  std::vector<IngestRecord> records = parse_predictions_body(req.body, format, ingest_limits(app, dom), single);
  app.pipeline().ingest(dom, std::move(records), who.name,
      [respond, single, &app, wait_ms, slot, dom](const sdk::Status& st, std::vector<IngestResult>& results) {
        if (!st.ok()) {
          app.metrics().http_errors++;
          app.metrics().plugin_error("storage", app.config().storage.plugin);
          respond(error_reply(503, "storage_unavailable", "decisions not stored: " + st.message));
          return;
        }
        if (slot) {  // ?wait=: answered once its pending records are final, or at the deadline
          std::vector<std::string> ids;
          for (auto& r : results)
            if (is(r.status, DecisionState::pending_review)) ids.push_back(r.id);
          app.notifier().wait(slot, dom, std::move(ids), wait_ms, [respond, single, results](WaitResult& w) {
            json arr = json::array();
            std::size_t k = 0;
            for (auto& r : results) {
              json j = result_to_json(r);
              if (is(r.status, DecisionState::pending_review)) {
                const auto& d = w.decisions.at(k++);
                j["final_label"] = nullptr;
                if (d && !d->final_outcome.empty()) {
                  j["final_label"] = d->final_label;
                  j["final_outcome"] = d->final_outcome;
                  j["reviewed_ms"] = d->final_ms;
                }
              }
              arr.push_back(std::move(j));
            }
            json out = single ? std::move(arr[0]) : json{{"results", std::move(arr)}};
            out["waited_ms"] = w.waited_ms;
            out["timed_out"] = w.timed_out;
            respond(reply(out));
          });
          return;
        }
        http::Response r;  // the body is made on the I/O thread, not on the writer's (after-commit)
        r.build = [single, results = std::move(results)] {
          if (single) return reply(result_to_json(results.at(0)));
          json arr = json::array();
          for (auto& one : results) arr.push_back(result_to_json(one));
          return reply({{"results", std::move(arr)}});
        };
        respond(std::move(r));
      });
}

// The decision alone, or with `trace` its whole provenance (governance/trace.cpp).
void read_decision(App& app, const std::string& dom, const std::string& id, const Principal& who,
                  http::Respond& respond, bool trace = false, const http::Request* req = nullptr) {
  require_domain(who, dom);  // scope first: a scoped token cannot probe which domains exist
  app.domains().require(dom);
  // ?wait= (not on /trace): a decision awaiting review is answered once final or at the deadline.
  std::int64_t wait_ms = -1;
  if (req && req->query.count("wait"))
    wait_ms = Notifier::parse_wait_ms(req->query.at("wait"), app.config().max_wait_seconds);
  std::optional<sdk::DecisionRecord> d;
  auto st = app.storage().get_decision(dom, id, d);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  if (!d) throw ServiceError(404, "not_found", "no decision \"" + id + "\" in domain \"" + dom + "\"", "id");
  json body = decision_json(*d);
  redact_for(who, app.domains().require(dom), body["input"], body["meta"], body["prediction"]);
  if (trace) {
    json t = build_trace(app.storage(), *d, std::move(body), who.role == Role::reviewer);
    // Review comments are free text that may repeat a masked value.
    if (who.role == Role::reviewer && !app.domains().require(dom).redactor.empty()) {
      const Redactor& r = app.domains().require(dom).redactor;
      const auto values = r.values(parse_or_null(d->input_json), parse_or_null(d->meta_json));
      for (auto& rv : t["reviews"]) rv["comment"] = Redactor::scrub(rv["comment"].get<std::string>(), values);
    }
    respond(reply(t));
  } else if (wait_ms >= 0 && awaiting_review(*d)) {
    auto slot = app.notifier().reserve();
    if (!slot)
      throw ServiceError(503, "too_many_waiters", "more than " + std::to_string(Notifier::kMaxWaiters) +
                         " requests are waiting: retry later or without wait");
    app.notifier().wait(std::move(slot), dom, {id}, wait_ms, [&app, respond, who, dom, pending = *d](WaitResult& w) {
      json b = decision_json(w.decisions.at(0) ? *w.decisions[0] : pending);
      redact_for(who, app.domains().require(dom), b["input"], b["meta"], b["prediction"]);
      b["waited_ms"] = w.waited_ms;
      b["timed_out"] = w.timed_out;
      respond(reply(b));
    });
  } else {
    if (wait_ms >= 0) {
      body["waited_ms"] = 0;
      body["timed_out"] = false;
    }
    respond(reply(body));
  }
}

// DELETE /v1/domains/{d}/decisions/{id}/payload?reason=...  (admin): erasure on request.
void erase(App& app, const std::string& dom, const std::string& id, const http::Request& req, const Principal& who,
                   http::Respond& respond) {
  require_domain(who, dom);  // a domain-scoped admin erases in its domains only
  app.domains().require(dom);
  auto it = req.query.find("reason");
  const std::string reason = it == req.query.end() ? std::string() : it->second;
  auto r = app.governance().erase(dom, id, reason, who.name);
  respond(reply({{"domain", r.domain}, {"id", r.decision_id}, {"erased", r.erased},
                              {"erased_ms", r.erased_ms ? json(r.erased_ms) : json(nullptr)},
                              {"input_hash", r.input_hash}}));
}

// PUT /v1/domains/{d}/decisions/{id}/truth {"label": "..."} (client or admin): the outcome
// learnt after the decision, e.g. that a loan defaulted.
void truth(App& app, const std::string& dom, const std::string& id, const http::Request& req, const Principal& who,
                  http::Respond& respond) {
  require_domain(who, dom);
  const DomainSettings& rt = app.domains().require(dom);
  json body = body_object(req, {"label"}, false, app.config().max_json_depth);
  auto l = body.find("label");
  if (l == body.end() || !l->is_string()) throw ServiceError(422, "invalid_field", "label: expected a string", "label");
  auto d = app.governance().report_truth(dom, id, l->get<std::string>(), rt.labels, who.name);
  respond(reply(decision_json(d)));
}

// GET /v1/domains/{d}/report?from&to&baseline_from&baseline_to  (admin)
void report(App& app, const std::string& dom, const http::Request& req, const Principal& who, http::Respond& respond) {
  require_domain(who, dom);
  app.domains().require(dom);
  ReportQuery q;
  for (auto [name, out] : {std::pair<const char*, std::int64_t*>{"from", &q.from_ms}, {"to", &q.to_ms},
                           {"baseline_from", &q.baseline_from_ms}, {"baseline_to", &q.baseline_to_ms}}) {
    auto it = req.query.find(name);
    if (it == req.query.end() || it->second.empty()) continue;
    auto t = parse_time_ms(it->second);
    if (!t) throw ServiceError(422, "invalid_field", std::string(name) + ": expected milliseconds since the epoch, "
                               "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got \"" + it->second + "\"", name);
    *out = *t;
  }
  respond(reply(build_report_json(app.report_storage(), app.config().domains.at(dom), q)));
}

}  // namespace

void ingest_predictions(RouteCall& c) { ingest(c.app, std::string(c.params[0]), c.req, c.who, c.respond); }
void get_decision(RouteCall& c) {
  read_decision(c.app, std::string(c.params[0]), std::string(c.params[1]), c.who, c.respond, false, &c.req);
}
void get_trace(RouteCall& c) {
  read_decision(c.app, std::string(c.params[0]), std::string(c.params[1]), c.who, c.respond, /*trace=*/true);
}
void report_truth(RouteCall& c) { truth(c.app, std::string(c.params[0]), std::string(c.params[1]), c.req, c.who, c.respond); }
void erase_payload(RouteCall& c) { erase(c.app, std::string(c.params[0]), std::string(c.params[1]), c.req, c.who, c.respond); }
void domain_report(RouteCall& c) { report(c.app, std::string(c.params[0]), c.req, c.who, c.respond); }

}  // namespace hitl::service
