#include "service/api_learning.hpp"

#include "registry/registry.hpp"
#include "service/api_body.hpp"
#include "service/app.hpp"
#include "service/auth.hpp"
#include "service/retrain_worker.hpp"
#include "service/service_error.hpp"

#include <charconv>

namespace hitl::service {
using nlohmann::json;

namespace {

void method(const http::Request& req, const char* want) {
  if (req.method != want) throw ServiceError(405, "method_not_allowed", std::string("use ") + want);
}

std::string domain_of(App& app, std::string_view part, const Principal& who) {
  std::string d(part);
  if (!app.config().domains.count(d)) throw ServiceError(404, "unknown_domain", "no domain named \"" + d + "\"");
  if (!who.may_access(d)) throw ServiceError(403, "forbidden", "this token may not use domain \"" + d + "\"");
  return d;
}

}  // namespace

bool route_learning(App& app, const http::Request& req, const std::vector<std::string_view>& parts,
                    const Principal& who, http::Respond& respond) {
  if (parts.size() < 4 || parts[0] != "v1" || parts[1] != "admin") return false;
  if (parts.size() == 5 && parts[2] == "domains" && parts[4] == "retrain") {
    admin_only(who);
    const std::string domain = domain_of(app, parts[3], who);
    if (req.method == "GET") {
      try {
        respond(reply(app.retrain().status(domain)));
      } catch (const std::runtime_error& e) {
        throw ServiceError(503, "storage_unavailable", e.what());
      }
      return true;
    }
    method(req, "POST");
    json b = body_object(req, {"reason", "promote"}, true);
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
    }
    if (!queued)
      throw ServiceError(409, "training_in_progress", "a training of \"" + domain + "\" is already " + job.status +
                                                          " (job " + std::to_string(job.id) + ")");
    respond(reply(to_json(job), 202));
    return true;
  }
  if (parts.size() == 5 && parts[2] == "retrain" && parts[3] == "jobs") {
    admin_only(who);
    method(req, "GET");
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(parts[4].data(), parts[4].data() + parts[4].size(), id);
    if (ec != std::errc() || p != parts[4].data() + parts[4].size() || id <= 0)
      throw ServiceError(404, "not_found", "no retrain job " + std::string(parts[4]));
    auto job = app.retrain().job(id);
    if (!job || !who.may_access(job->domain)) throw ServiceError(404, "not_found", "no retrain job " + std::to_string(id));
    respond(reply(to_json(*job)));
    return true;
  }
  if (parts.size() == 5 && parts[2] == "domains" && parts[4] == "models") {
    admin_only(who);
    method(req, "GET");
    const std::string domain = domain_of(app, parts[3], who);
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
    return true;
  }
  return false;
}

}  // namespace hitl::service
