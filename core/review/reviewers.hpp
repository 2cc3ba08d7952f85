#pragma once
// The reviewer registry: who reviews, in which domains, with which skills and roles (pools), how
// many tasks at once, at what cost. A reviewer's id is the name of their reviewer token.
// Managed by `hitl reviewer add|list|disable` and /v1/admin/reviewers; every change is audited.
//
// A reviewer token whose name is not registered works as before (roles "reviewer", no skills,
// no capacity limit): registering is how a team adds skills, pools and limits.
#include <hitl/plugin_api.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service {

std::vector<std::string> split_list(const std::string& csv);  // "a, b,,c" -> {a, b, c}
bool list_contains(const std::string& csv, const std::string& item);

class ReviewerDirectory {
 public:
  using Commit = std::function<sdk::Status(sdk::WriteBatch&)>;
  ReviewerDirectory(sdk::Storage& storage, Commit commit);

  // Adds or updates a reviewer (throws ServiceError 422 naming the field on bad values).
  sdk::ReviewerRecord put(sdk::ReviewerRecord r, const std::string& actor);
  // Throws ServiceError 404 for an unknown id.
  sdk::ReviewerRecord set_disabled(const std::string& id, bool disabled, const std::string& actor);
  std::vector<sdk::ReviewerRecord> list();
  // `fresh`: read the table now rather than from the cache (before changing a record, so a
  // change made meanwhile by `hitl reviewer` is not overwritten with older fields).
  std::optional<sdk::ReviewerRecord> find(const std::string& id, bool fresh = false);
  // The registered record, or the implicit one an unregistered reviewer token gets.
  sdk::ReviewerRecord effective(const std::string& id);

 private:
  void refresh_locked(bool force);
  sdk::Storage& storage_;
  Commit commit_;
  std::mutex mu_;
  std::vector<sdk::ReviewerRecord> cache_;
  // Another process (`hitl reviewer add`) may change the table: re-read at most this often.
  std::chrono::steady_clock::time_point fresh_until_{};
};

}  // namespace hitl::service
