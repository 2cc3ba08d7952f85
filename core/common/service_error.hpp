#pragma once
// An error the API turns into {"error": {"code", "message", "field"}} with an HTTP status.
#include <stdexcept>
#include <string>

namespace hitl::service {

class ServiceError : public std::runtime_error {
 public:
  ServiceError(int http_status, std::string code, const std::string& message, std::string field = {})
      : std::runtime_error(message), status(http_status), code(std::move(code)), field(std::move(field)) {}
  int status;
  std::string code;
  std::string field;
};

}  // namespace hitl::service
