// The /v1 HTTP API: routing through the route table (routes.hpp), authentication, the slow lane,
// errors as JSON. Transport is in core/http; the handlers are in api_*.cpp and ui_routes_*.cpp.
#include "api/api.hpp"

#include "api/api_body.hpp"
#include "api/handlers.hpp"
#include "api/routes.hpp"
#include "app/app.hpp"
#include "app/policy_reloader.hpp"
#include "app/slow_lane.hpp"
#include "common/clock.hpp"
#include "common/service_error.hpp"
#include "governance/auth.hpp"
#include "metrics/metrics.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace hitl::service {
using nlohmann::json;

namespace {

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

// A known path with another method: 405 naming the methods it has, or 403 first when the token
// may use none of them (so the methods of a path reveal nothing to a token that may not use it).
[[noreturn]] void wrong_method(const RouteMatch& m, const Principal* who) {
  std::string methods;
  bool usable = false;
  for (const Route* r : m.same_path) {
    methods += (methods.empty() ? "" : " or ") + std::string(r->method);
    usable = usable || !who || allows(r->access, *who);
  }
  if (!usable) check_access(m.same_path.front()->access, *who);
  throw ServiceError(405, "method_not_allowed", "use " + methods);
}

class Api {
 public:
  explicit Api(App& app) : app_(app) {}

  void handle(http::Request&& req, http::Respond respond) {
    app_.metrics().http_requests++;
    guarded(respond, [&] { route(std::move(req), respond, Lane::io); });
  }

 private:
  // Runs `fn`, answering what it throws as the JSON error it names (api_body.hpp).
  template <class F>
  void guarded(http::Respond& respond, F&& fn) {
    try {
      fn();
    } catch (const std::exception&) {
      answer_error(app_, respond, std::current_exception());
    }
  }

  // Queues the request on the slow lane, where route() runs it again (it authenticates again
  // there: cheap, and a token revoked meanwhile is refused). Never waits: a full queue is 503 busy.
  void to_slow_lane(http::Request&& req, http::Respond& respond) {
    auto job = [this, req = std::move(req), respond](bool run) mutable {
      if (!run) {
        app_.metrics().http_errors++;
        respond(error_reply(503, "shutting_down", "the service is stopping"));
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
    auto r = error_reply(503, "busy", "the slow lane is full (" + std::to_string(app_.slow_lane().capacity()) +
                                          " queued reports, listings or exports): retry later");
    r.headers.emplace_back("Retry-After", "5");
    respond(std::move(r));
  }

  // Only what the route table names is served. Routes for anyone answer before authentication;
  // every other request authenticates first (401 before 404), then the route's access is checked.
  void route(http::Request&& req, http::Respond& respond, Lane lane) {
    const auto parts = split_path(req.path);
    RouteMatch m = match_route(req.method, parts);
    const bool open_path = !m.same_path.empty() && m.same_path.front()->access == Access::anyone;
    if (open_path) {
      if (!m.route) wrong_method(m, nullptr);
      Principal nobody;
      RouteCall call{app_, req, nobody, respond, std::move(m.params)};
      return m.route->handler(call);
    }
    const Principal who = authenticate(req);
    if (m.same_path.empty()) throw ServiceError(404, "not_found", "no route " + req.method + " " + req.path);
    if (!m.route) wrong_method(m, &who);
    check_access(m.route->access, who);
    if (lane == Lane::io && m.route->lane == Lane::slow) return to_slow_lane(std::move(req), respond);
    RouteCall call{app_, req, who, respond, std::move(m.params)};
    m.route->handler(call);
  }

  Principal authenticate(const http::Request& req) {
    std::string h = req.header("authorization");
    if (h.empty()) throw ServiceError(401, "unauthorized", "missing Authorization: Bearer <token>");
    auto p = app_.tokens().authenticate(h);
    if (!p) throw ServiceError(401, "unauthorized", "unknown or revoked token");
    return *p;
  }

  App& app_;
};

}  // namespace

// Each domain's policy in force and its last refused candidate (app/policy_reloader.hpp).
void healthz(RouteCall& c) { c.respond(reply({{"status", "ok"}, {"policies", c.app.policy_reloader().health()}})); }

void metrics(RouteCall& c) {
  http::Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  c.app.metrics().storage_commits = c.app.writer().commits();
  r.body = c.app.metrics().render_prometheus([&app = c.app](const std::string& d) {
    sdk::QueueDepth depth;
    app.queue().depth(d, now_ms(), depth);
    return Metrics::Gauge{d, depth.ready, depth.leased};
  });
  c.respond(std::move(r));
}

// GET /v1/openapi.json reaches the API only when the UI's files (which hold it) are not installed.
void openapi_not_installed(RouteCall& c) {
  throw ServiceError(404, "not_found", "the API document is not installed (share/hitl/ui/openapi.json): " + c.req.path);
}

http::Handler make_api_handler(App& app) {
  auto api = std::make_shared<Api>(app);
  return [api](http::Request&& req, http::Respond respond) { api->handle(std::move(req), std::move(respond)); };
}

}  // namespace hitl::service
