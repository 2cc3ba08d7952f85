#pragma once
// Small helpers the admin route files share: JSON replies, the admin-only check, and strict
// request bodies (unknown fields refused by name, wrong types answered 422 with the field).
#include "http/server.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <string>

namespace hitl::service {

struct Principal;
class App;

http::Response reply(const nlohmann::json& body, int status = 200);
// {"error": {"code", "message", "field"}} (field null when empty): the one error body.
http::Response error_reply(int status, const std::string& code, const std::string& message,
                           const std::string& field = {});
// Answers what a handler threw, now or later from an asynchronous callback, as the JSON error it
// names (a ServiceError; anything else is 500 internal), counted in http_errors and, for a
// storage or queue failure, in the plugin's errors.
void answer_error(App& app, const http::Respond& respond, std::exception_ptr error);
// Stored JSON text as JSON, null when it does not parse.
nlohmann::json parse_or_null(const std::string& text);
// 403 unless `who` is an admin.
void admin_only(const Principal& who);
// The body as a JSON object holding only `allowed` keys; an empty body is {} when may_be_empty.
// Throws ServiceError: 400 malformed_json, 422 too_deep (past max_depth), 422 invalid_field.
nlohmann::json body_object(const http::Request& req, std::initializer_list<const char*> allowed, bool may_be_empty,
                           int max_depth);
// Free text a person writes (comments, reasons): at most this many characters.
inline constexpr std::size_t kMaxFreeTextChars = 10000;
// A path segment that must be a positive integer id (task, job): nullopt otherwise.
std::optional<std::int64_t> positive_id(std::string_view part);
// The task id of a path segment; 404 not_found (field task_id) when it is not a positive integer.
std::int64_t task_id_of(std::string_view part);
// body[key] as a string ("" when absent or null unless required). Throws ServiceError 422.
std::string string_field(const nlohmann::json& body, const char* key, bool required = false);

}  // namespace hitl::service
