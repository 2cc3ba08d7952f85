#include "blob_rules.hpp"

#include "common/utf8.hpp"

namespace hitl::storage_common {

namespace {
std::string problem_with(const std::string& name) {
  if (name.size() > kMaxBlobName)
    return "is " + std::to_string(name.size()) + " bytes long (at most " + std::to_string(kMaxBlobName) + ")";
  if (name.find('\0') != std::string::npos) return "holds a NUL byte";
  if (!valid_utf8(name)) return "is not valid UTF-8";
  return "";
}
}  // namespace

sdk::Status check_blob_name(const std::string& name, const char* plugin, const char* what) {
  const std::string problem = name.empty() ? "is empty" : problem_with(name);
  if (problem.empty()) return sdk::Status::Ok();
  return sdk::Status::Error(sdk::Code::invalid_argument, std::string(plugin) + ": " + what + ": the blob name " + problem);
}

sdk::Status check_blob_prefix(const std::string& prefix, const char* plugin) {
  return prefix.empty() ? sdk::Status::Ok() : check_blob_name(prefix, plugin, "list_blobs");
}

}  // namespace hitl::storage_common
