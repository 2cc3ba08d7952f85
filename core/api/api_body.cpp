#include "api/api_body.hpp"

#include "app/app.hpp"
#include "governance/auth.hpp"
#include "data/client_json.hpp"
#include "common/service_error.hpp"
#include "metrics/metrics.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

namespace hitl::service {
using nlohmann::json;

http::Response reply(const json& body, int status) {
  http::Response r;
  r.status = status;
  r.body = body.dump();
  return r;
}

http::Response error_reply(int status, const std::string& code, const std::string& message, const std::string& field) {
  json err = {{"code", code}, {"message", message}};
  err["field"] = field.empty() ? json(nullptr) : json(field);
  return reply({{"error", err}}, status);
}

void answer_error(App& app, const http::Respond& respond, std::exception_ptr error) {
  app.metrics().http_errors++;
  try {
    std::rethrow_exception(error);
  } catch (const ServiceError& e) {
    if (e.code == "storage_unavailable") app.metrics().plugin_error("storage", app.config().storage.plugin);
    if (e.code == "queue_unavailable") app.metrics().plugin_error("queue", app.config().queue.plugin);
    respond(error_reply(e.status, e.code, e.what(), e.field));
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    respond(error_reply(500, "internal", e.what()));
  }
}

json parse_or_null(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

void admin_only(const Principal& who) {
  if (who.role != Role::admin) throw ServiceError(403, "forbidden", std::string("role ") + role_name(who.role) + " may not use this route");
}

json body_object(const http::Request& req, std::initializer_list<const char*> allowed, bool may_be_empty, int max_depth) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (may_be_empty) return json::object();
    throw ServiceError(422, "invalid_field", "expected a JSON object body", "(body)");
  }
  json body = parse_client_json(req.body, max_depth);
  if (!body.is_object()) throw ServiceError(422, "invalid_field", "expected a JSON object", "(body)");
  for (auto& [k, _] : body.items()) {
    bool ok = false;
    for (auto* a : allowed) ok = ok || k == a;
    if (!ok) {
      std::string list;
      for (auto* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw ServiceError(422, "invalid_field", k + ": unknown field (expected " + list + ")", k);
    }
  }
  return body;
}

std::optional<std::int64_t> positive_id(std::string_view part) {
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), id);
  if (ec != std::errc() || p != part.data() + part.size() || id <= 0) return std::nullopt;
  return id;
}

std::int64_t task_id_of(std::string_view part) {
  if (auto id = positive_id(part)) return *id;
  throw ServiceError(404, "not_found", "no task \"" + std::string(part) + "\"", "task_id");
}

std::string string_field(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) throw ServiceError(422, "invalid_field", std::string(key) + ": required", key);
    return "";
  }
  if (!it->is_string()) throw ServiceError(422, "invalid_field", std::string(key) + ": expected a string", key);
  return it->get<std::string>();
}

}  // namespace hitl::service
