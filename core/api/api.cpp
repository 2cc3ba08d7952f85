// The /v1 HTTP API: routing, authentication, JSON in and out. Transport is in core/http.
#include "api/api.hpp"
#include "common/clock.hpp"
#include "policy/policy_engine.hpp"
#include "api/api_body.hpp"
#include "api/api_learning.hpp"
#include "api/api_policy.hpp"
#include "app/policy_reloader.hpp"
#include "data/client_json.hpp"
#include "api/api_workflow.hpp"
#include "app/app.hpp"
#include "governance/auth.hpp"
#include "governance/governance.hpp"
#include "domain/domains.hpp"
#include "governance/report_service.hpp"
#include "metrics/metrics.hpp"
#include "notify/notify.hpp"
#include "ingest/pipeline.hpp"
#include "review/review.hpp"
#include "common/service_error.hpp"
#include "app/slow_lane.hpp"
#include "governance/trace.hpp"
#include "store/writer.hpp"
#include "common/task_state.hpp"
#include "api/ui_routes.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace hitl::service {
using nlohmann::json;

namespace {

http::Response json_response(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.body = body.dump();
  return r;
}

http::Response error_response(int status, const std::string& code, const std::string& message,
                              const std::string& field = {}) {
  json err = {{"code", code}, {"message", message}};
  err["field"] = field.empty() ? json(nullptr) : json(field);
  return json_response(status, {{"error", err}});
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

json parse_or_null(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

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

void require_role(const Principal& p, std::initializer_list<Role> roles) {
  for (auto r : roles)
    if (p.role == r) return;
  throw ServiceError(403, "forbidden", std::string("role ") + role_name(p.role) + " may not use this route");
}

void require_domain(const Principal& p, const std::string& domain) {
  if (!p.may_access(domain))
    throw ServiceError(403, "forbidden", "token \"" + p.name + "\" is not allowed domain \"" + domain + "\"", "domain");
}

// Routes whose cost grows with the stored data (a report, listings, a trace, an erasure): they run
// on the slow lane, not on an I/O thread (docs/operations.md, "Connections and slow routes"); "*" is
// any segment.
bool slow_route(const std::string& m, const std::vector<std::string_view>& parts) {
  auto is = [&](std::initializer_list<std::string_view> pattern) {
    return parts.size() == pattern.size() &&
           std::equal(pattern.begin(), pattern.end(), parts.begin(),
                      [](std::string_view want, std::string_view got) { return want == "*" || want == got; });
  };
  if (m == "DELETE") return is({"v1", "domains", "*", "decisions", "*", "payload"});
  return m == "GET" && (is({"v1", "domains", "*", "report"}) || is({"v1", "domains", "*", "decisions", "*", "trace"}) ||
                        is({"v1", "review", "tasks"}) || is({"v1", "admin", "reviewers"}) ||
                        is({"v1", "admin", "domains", "*", "retrain"}) || is({"v1", "admin", "domains", "*", "models"})) ||
         ui::slow_route(m, parts) || policy_slow_route(m, parts);
}

enum class Lane { io, slow };

class Api {
 public:
  explicit Api(App& app) : app_(app) {}

  void handle(http::Request&& req, http::Respond respond) {
    app_.metrics().http_requests++;
    guarded(respond, [&] { route(std::move(req), respond, Lane::io); });
  }

 private:
  // Runs `fn`, answering what it throws as the JSON error it names (counted in http_errors).
  template <class F>
  void guarded(http::Respond& respond, F&& fn) {
    auto fail = [&](const http::Response& r) {
      app_.metrics().http_errors++;
      respond(r);
    };
    try {
      fn();
    } catch (const ServiceError& e) {
      if (e.code == "storage_unavailable") app_.metrics().plugin_error("storage", app_.config().storage.plugin);
      if (e.code == "queue_unavailable") app_.metrics().plugin_error("queue", app_.config().queue.plugin);
      fail(error_response(e.status, e.code, e.what(), e.field));
    } catch (const std::exception& e) {
      spdlog::error("internal error: {}", e.what());
      fail(error_response(500, "internal", e.what()));
    }
  }

  // Queues the request on the slow lane, where route() runs it again (it authenticates again
  // there: cheap, and a token revoked meanwhile is refused). Never waits: a full queue is 503 busy.
  void to_slow_lane(http::Request&& req, http::Respond& respond) {
    auto job = [this, req = std::move(req), respond](bool run) mutable {
      if (!run) {
        app_.metrics().http_errors++;
        respond(error_response(503, "shutting_down", "the service is stopping"));
        return;
      }
      guarded(respond, [&] { route(std::move(req), respond, Lane::slow); });
    };
    switch (app_.slow_lane().submit(std::move(job))) {
      case SlowLane::Admission::queued: return;
      case SlowLane::Admission::stopped: throw ServiceError(503, "shutting_down", "the service is stopping");
      case SlowLane::Admission::busy: break;
    }
    app_.metrics().slow_lane_busy++;
    app_.metrics().http_errors++;
    auto r = error_response(503, "busy", "the slow lane is full (" + std::to_string(app_.slow_lane().capacity()) +
                                             " queued reports, listings or exports): retry later");
    r.headers.emplace_back("Retry-After", "5");
    respond(std::move(r));
  }

  void route(http::Request&& req, http::Respond& respond, Lane lane) {
    auto parts = split_path(req.path);
    const std::string& m = req.method;
    if (parts.size() == 1 && parts[0] == "healthz") {
      if (m != "GET") throw ServiceError(405, "method_not_allowed", "use GET");
      // Each domain's policy in force and its last refused candidate (app/policy_reloader.hpp).
      respond(json_response(200, {{"status", "ok"}, {"policies", app_.policy_reloader().health()}}));
      return;
    }
    Principal who = authenticate(req);
    if (lane == Lane::io && slow_route(m, parts)) return to_slow_lane(std::move(req), respond);
    if (parts.size() == 1 && parts[0] == "metrics") {
      if (m != "GET") throw ServiceError(405, "method_not_allowed", "use GET");
      require_role(who, {Role::admin});
      http::Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      app_.metrics().storage_commits = app_.writer().commits();
      r.body = app_.metrics().render_prometheus([this](const std::string& d) {
        sdk::QueueDepth depth;
        app_.queue().depth(d, now_ms(), depth);
        return Metrics::Gauge{d, depth.ready, depth.leased};
      });
      respond(std::move(r));
      return;
    }
    if (parts.size() >= 2 && parts[0] == "v1" && parts[1] == "domains") {
      if (parts.size() == 4 && parts[3] == "predictions") {
        if (m != "POST") throw ServiceError(405, "method_not_allowed", "use POST");
        predictions(std::string(parts[2]), req, who, respond);
        return;
      }
      if (parts.size() == 5 && parts[3] == "decisions") {
        if (m != "GET") throw ServiceError(405, "method_not_allowed", "use GET");
        get_decision(std::string(parts[2]), std::string(parts[4]), who, respond, false, &req);
        return;
      }
      if (parts.size() == 6 && parts[3] == "decisions" && parts[5] == "payload") {
        if (m != "DELETE") throw ServiceError(405, "method_not_allowed", "use DELETE");
        erase_payload(std::string(parts[2]), std::string(parts[4]), req, who, respond);
        return;
      }
      if (parts.size() == 6 && parts[3] == "decisions" && parts[5] == "truth") {
        if (m != "PUT" && m != "POST") throw ServiceError(405, "method_not_allowed", "use PUT");
        report_truth(std::string(parts[2]), std::string(parts[4]), req, who, respond);
        return;
      }
      if (parts.size() == 4 && parts[3] == "report") {
        if (m != "GET") throw ServiceError(405, "method_not_allowed", "use GET");
        domain_report(std::string(parts[2]), req, who, respond);
        return;
      }
      if (parts.size() == 6 && parts[3] == "decisions" && parts[5] == "trace") {
        if (m != "GET") throw ServiceError(405, "method_not_allowed", "use GET");
        get_decision(std::string(parts[2]), std::string(parts[4]), who, respond, /*trace=*/true);
        return;
      }
    }
    if (ui::route(app_, req, parts, who, respond)) return;  // the web UI's routes (api/ui_routes.hpp)
    if (route_workflow(app_, req, parts, who, respond)) return;
    if (route_learning(app_, req, parts, who, respond)) return;
    if (route_policy(app_, req, parts, who, respond)) return;  // api/api_policy.hpp
    if (parts.size() == 3 && parts[0] == "v1" && parts[1] == "review" && parts[2] == "next") {
      if (m != "GET") throw ServiceError(405, "method_not_allowed", "use GET");
      review_next(req, who, respond);
      return;
    }
    if (parts.size() == 5 && parts[0] == "v1" && parts[1] == "review" && parts[2] == "tasks" && parts[4] == "outcome") {
      if (m != "POST") throw ServiceError(405, "method_not_allowed", "use POST");
      outcome(parts[3], req, who, respond);
      return;
    }
    if (parts.size() == 5 && parts[0] == "v1" && parts[1] == "review" && parts[2] == "tasks" &&
        (parts[4] == "release" || parts[4] == "send-back" || parts[4] == "cancel")) {
      if (m != "POST") throw ServiceError(405, "method_not_allowed", "use POST");
      lifecycle(parts[3], parts[4], req, who, respond);
      return;
    }
    throw ServiceError(404, "not_found", "no route " + m + " " + req.path);
  }

  Principal authenticate(const http::Request& req) {
    std::string h = req.header("authorization");
    if (h.empty()) throw ServiceError(401, "unauthorized", "missing Authorization: Bearer <token>");
    auto p = app_.tokens().authenticate(h);
    if (!p) throw ServiceError(401, "unauthorized", "unknown or revoked token");
    return *p;
  }

  IngestLimits ingest_limits(const std::string& dom) {
    return IngestLimits{app_.config().max_json_depth, app_.config().max_batch_records, domain(dom).labels};
  }

  const DomainSettings& domain(const std::string& name) { return app_.domains().require(name); }

  void predictions(const std::string& dom, const http::Request& req, const Principal& who,
                   http::Respond& respond) {
    require_role(who, {Role::admin, Role::client});
    require_domain(who, dom);  // scope first: a scoped token cannot probe which domains exist
    domain(dom);
    // ?wait=: the reply waits until the request's pending records are final (notify/notify.hpp).
    std::int64_t wait_ms = -1;
    if (auto w = req.query.find("wait"); w != req.query.end())
      wait_ms = Notifier::parse_wait_ms(w->second, app_.config().max_wait_seconds);
    // Backpressure: at max_open_tasks open review tasks nothing of the request is accepted.
    if (const auto max_open = app_.config().domains.at(dom).max_open_tasks; max_open > 0) {
      sdk::QueueDepth depth;
      auto st = app_.queue().depth(dom, now_ms(), depth);
      if (!st.ok()) {
        spdlog::warn("backpressure: queue depth unknown domain={} (accepting): {}", dom, st.message);
      } else if (depth.ready + depth.leased >= max_open) {
        auto r = error_response(429, "too_many_open_tasks",
                                "domain \"" + dom + "\" has " + std::to_string(depth.ready + depth.leased) +
                                    " open review tasks (max_open_tasks " + std::to_string(max_open) +
                                    "): nothing was stored, retry later");
        r.headers.emplace_back("Retry-After", "5");
        app_.metrics().http_errors++;
        respond(std::move(r));
        return;
      }
    }
    std::shared_ptr<Notifier::Slot> slot;  // taken before anything is stored
    if (wait_ms >= 0 && !(slot = app_.notifier().reserve()))
      throw ServiceError(503, "too_many_waiters", "more than " + std::to_string(Notifier::kMaxWaiters) +
                         " requests are waiting: retry later or without wait");
    bool single = false;
    const auto format = req.header("content-type").find("ndjson") != std::string::npos ? BodyFormat::ndjson : BodyFormat::json;
    std::vector<IngestRecord> records = parse_predictions_body(req.body, format, ingest_limits(dom), single);
    app_.pipeline().ingest(dom, std::move(records), who.name,
        [respond, single, this, wait_ms, slot, dom](const sdk::Status& st, std::vector<IngestResult>& results) {
          if (!st.ok()) {
            app_.metrics().http_errors++;
            app_.metrics().plugin_error("storage", app_.config().storage.plugin);
            respond(error_response(503, "storage_unavailable", "decisions not stored: " + st.message));
            return;
          }
          if (slot) {  // ?wait=: answered once its pending records are final, or at the deadline
            std::vector<std::string> ids;
            for (auto& r : results)
              if (is(r.status, DecisionState::pending_review)) ids.push_back(r.id);
            app_.notifier().wait(slot, dom, std::move(ids), wait_ms, [respond, single, results](WaitResult& w) {
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
              respond(json_response(200, out));
            });
            return;
          }
          if (single) {
            respond(json_response(200, result_to_json(results.at(0))));
            return;
          }
          json arr = json::array();
          for (auto& r : results) arr.push_back(result_to_json(r));
          respond(json_response(200, {{"results", std::move(arr)}}));
        });
  }

  // The decision alone, or with `trace` its whole provenance (governance/trace.cpp).
  void get_decision(const std::string& dom, const std::string& id, const Principal& who,
                    http::Respond& respond, bool trace = false, const http::Request* req = nullptr) {
    require_domain(who, dom);  // scope first: a scoped token cannot probe which domains exist
    domain(dom);
    // ?wait= (not on /trace): a decision awaiting review is answered once final or at the deadline.
    std::int64_t wait_ms = -1;
    if (req && req->query.count("wait"))
      wait_ms = Notifier::parse_wait_ms(req->query.at("wait"), app_.config().max_wait_seconds);
    std::optional<sdk::DecisionRecord> d;
    auto st = app_.storage().get_decision(dom, id, d);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
    if (!d) throw ServiceError(404, "not_found", "no decision \"" + id + "\" in domain \"" + dom + "\"", "id");
    json body = decision_json(*d);
    redact_for(who, domain(dom), body["input"], body["meta"], body["prediction"]);
    if (trace) {
      json t = build_trace(app_.storage(), *d, std::move(body), who.role == Role::reviewer);
      // Review comments are free text that may repeat a masked value.
      if (who.role == Role::reviewer && !domain(dom).redactor.empty()) {
        const Redactor& r = domain(dom).redactor;
        const auto values = r.values(parse_or_null(d->input_json), parse_or_null(d->meta_json));
        for (auto& rv : t["reviews"]) rv["comment"] = Redactor::scrub(rv["comment"].get<std::string>(), values);
      }
      respond(json_response(200, t));
    } else if (wait_ms >= 0 && awaiting_review(*d)) {
      auto slot = app_.notifier().reserve();
      if (!slot)
        throw ServiceError(503, "too_many_waiters", "more than " + std::to_string(Notifier::kMaxWaiters) +
                           " requests are waiting: retry later or without wait");
      app_.notifier().wait(std::move(slot), dom, {id}, wait_ms, [this, respond, who, dom, pending = *d](WaitResult& w) {
        json b = decision_json(w.decisions.at(0) ? *w.decisions[0] : pending);
        redact_for(who, domain(dom), b["input"], b["meta"], b["prediction"]);
        b["waited_ms"] = w.waited_ms;
        b["timed_out"] = w.timed_out;
        respond(json_response(200, b));
      });
    } else {
      if (wait_ms >= 0) {
        body["waited_ms"] = 0;
        body["timed_out"] = false;
      }
      respond(json_response(200, body));
    }
  }

  // DELETE /v1/domains/{d}/decisions/{id}/payload?reason=...  (admin): erasure on request.
  void erase_payload(const std::string& dom, const std::string& id, const http::Request& req, const Principal& who,
                     http::Respond& respond) {
    require_role(who, {Role::admin});
    require_domain(who, dom);  // a domain-scoped admin erases in its domains only
    domain(dom);
    auto it = req.query.find("reason");
    const std::string reason = it == req.query.end() ? std::string() : it->second;
    auto r = app_.governance().erase(dom, id, reason, who.name);
    respond(json_response(200, {{"domain", r.domain}, {"id", r.decision_id}, {"erased", r.erased},
                                {"erased_ms", r.erased_ms ? json(r.erased_ms) : json(nullptr)},
                                {"input_hash", r.input_hash}}));
  }

  // PUT /v1/domains/{d}/decisions/{id}/truth {"label": "..."} (client or admin): the outcome
  // learnt after the decision, e.g. that a loan defaulted.
  void report_truth(const std::string& dom, const std::string& id, const http::Request& req, const Principal& who,
                    http::Respond& respond) {
    require_role(who, {Role::admin, Role::client});
    require_domain(who, dom);
    const DomainSettings& rt = domain(dom);
    json body = body_object(req, {"label"}, false, app_.config().max_json_depth);
    auto l = body.find("label");
    if (l == body.end() || !l->is_string()) throw ServiceError(422, "invalid_field", "label: expected a string", "label");
    auto d = app_.governance().report_truth(dom, id, l->get<std::string>(), rt.labels, who.name);
    respond(json_response(200, decision_json(d)));
  }

  // GET /v1/domains/{d}/report?from&to&baseline_from&baseline_to  (admin)
  void domain_report(const std::string& dom, const http::Request& req, const Principal& who, http::Respond& respond) {
    require_role(who, {Role::admin});
    require_domain(who, dom);
    domain(dom);
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
    respond(json_response(200, build_report_json(app_.storage(), app_.config().domains.at(dom), q)));
  }

  void review_next(const http::Request& req, const Principal& who, http::Respond& respond) {
    require_role(who, {Role::admin, Role::reviewer});
    auto it = req.query.find("domain");
    if (it == req.query.end() || it->second.empty())
      throw ServiceError(422, "invalid_field", "query parameter domain is required", "domain");
    auto claimed = app_.review().next(it->second, who);
    if (!claimed) {
      http::Response r;
      r.status = 204;
      r.content_type.clear();
      respond(std::move(r));
      return;
    }
    auto& t = claimed->task;
    json body = {{"task_id", t.task_id},
                 {"domain", t.domain},
                 {"decision_id", t.decision_id},
                 {"reason", t.reason},
                 {"priority", t.priority},
                 {"status", t.status},
                 {"assignee", t.assignee},
                 {"lease_expires_ms", t.lease_expires_ms},
                 {"deadline_ms", t.deadline_ms ? json(t.deadline_ms) : json(nullptr)},
                 {"input", parse_or_null(claimed->decision.input_json)},
                 {"prediction", parse_or_null(claimed->decision.prediction_json)},
                 {"meta", parse_or_null(claimed->decision.meta_json)},
                 {"labels", domain(t.domain).labels}};
    // The review view masks sensitive fields for everyone who works a task, admins included:
    // the review itself should not depend on them.
    if (const Redactor& r = domain(t.domain).redactor; !r.empty()) {
      r.input(body["input"]);
      r.meta(body["meta"]);
      r.prediction(body["prediction"]);
    }
    respond(json_response(200, body));
  }

  void outcome(std::string_view task_part, const http::Request& req, const Principal& who,
               http::Respond& respond) {
    require_role(who, {Role::admin, Role::reviewer});
    OutcomeRequest o;
    o.task_id = task_id_of(task_part);
    json body = body_object(req, {"outcome", "correction", "comment"}, false, app_.config().max_json_depth);
    auto oc = body.find("outcome");
    if (oc == body.end() || !oc->is_string())
      throw ServiceError(422, "invalid_field", "outcome: expected \"approve\", \"reject\" or \"correct\"", "outcome");
    o.outcome = oc->get<std::string>();
    auto corr = body.find("correction");
    if (corr != body.end() && !corr->is_null()) {
      if (!corr->is_object()) throw ServiceError(422, "invalid_field", "correction: expected an object {\"label\": ...}", "correction");
      for (auto& [k, _] : corr->items())
        if (k != "label") throw ServiceError(422, "invalid_field", "correction." + k + ": unknown field (expected label)", "correction." + k);
      auto l = corr->find("label");
      if (l == corr->end() || !l->is_string())
        throw ServiceError(422, "invalid_field", "correction.label: expected a string", "correction.label");
      o.correction_label = l->get<std::string>();
    }
    o.comment = string_field(body, "comment");
    check_client_text(o.comment, "comment", kMaxFreeTextChars, /*may_be_empty=*/true, /*multiline=*/true);
    auto r = app_.review().submit(o, who);
    respond(json_response(200, {{"task_id", r.task_id}, {"domain", r.domain}, {"decision_id", r.decision_id},
                                {"outcome", r.outcome}, {"final_label", r.final_label}}));
  }

  // POST /v1/review/tasks/{id}/release | send-back | cancel, body {"reason": "..."} (optional
  // for release). The lifecycle rules are in ReviewService; storage enforces them again.
  void lifecycle(std::string_view task_part, std::string_view action, const http::Request& req,
                 const Principal& who, http::Respond& respond) {
    const bool release = action == "release";
    if (release) require_role(who, {Role::admin, Role::reviewer});
    else require_role(who, {Role::admin});
    const std::int64_t task_id = task_id_of(task_part);
    const bool empty_body = req.body.find_first_not_of(" \t\r\n") == std::string::npos;
    if (empty_body && !release) throw ServiceError(422, "invalid_field", "reason: required (body {\"reason\": \"...\"})", "reason");
    json body = body_object(req, {"reason"}, /*may_be_empty=*/true, app_.config().max_json_depth);
    const std::string reason = string_field(body, "reason", /*required=*/!release);
    check_client_text(reason, "reason", kMaxFreeTextChars, /*may_be_empty=*/release, /*multiline=*/true);
    if (!release && reason.find_first_not_of(" \t\r\n") == std::string::npos)
      throw ServiceError(422, "invalid_field", "reason: must not be empty", "reason");
    auto& review = app_.review();
    TransitionResult t = release              ? review.release(task_id, reason, who)
                         : action == "cancel" ? review.cancel(task_id, reason, who)
                                              : review.send_back(task_id, reason, who);
    respond(json_response(200, {{"task_id", t.task_id}, {"domain", t.domain}, {"decision_id", t.decision_id},
                                {"previous_status", t.from}, {"status", t.to}}));
  }

  App& app_;
};

}  // namespace

http::Handler make_api_handler(App& app) {
  auto api = std::make_shared<Api>(app);
  return [api](http::Request&& req, http::Respond respond) { api->handle(std::move(req), std::move(respond)); };
}

}  // namespace hitl::service
