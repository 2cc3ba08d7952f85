#pragma once
// find_decisions calls made at once, on several threads, read in one statement (storage-postgres).
//
// The HTTP intake asks, per request and before it decides, whether the request's ids are stored
// already (core/ingest: a retried id is answered with the original). On PostgreSQL each ask was a
// statement of its own: two thirds of the server's CPU per single-record POST
// (docs/performance.md). Asks that arrive while one is being read wait for it and then go
// together: the first waiting thread reads for all of them in one statement per domain. No
// thread waits for company: an ask alone is read at once, so a lone caller pays nothing.
#include <hitl/plugin_api.hpp>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hitl::storage_postgres {

class FindBatcher {
 public:
  using Found = std::vector<std::optional<sdk::DecisionRecord>>;
  // Reads the decisions of `ids` in `domain` in one statement: out[i] for ids[i].
  using Read = std::function<sdk::Status(const std::string& domain, const std::vector<std::string>& ids, Found& out)>;
  explicit FindBatcher(Read read) : read_(std::move(read)) {}

  sdk::Status find(const std::string& domain, const std::vector<std::string>& ids, Found& out);

  // Ids read together at most (a larger ask still goes, alone).
  static constexpr std::size_t kMaxIds = 10000;

 private:
  struct Ask {
    const std::string& domain;
    const std::vector<std::string>& ids;
    Found& out;
    sdk::Status status = sdk::Status::Ok();
    bool done = false;
  };
  std::vector<Ask*> take_batch();  // mu_ held
  void read_batch(const std::vector<Ask*>& batch) noexcept;
  void read_grouped(const std::vector<Ask*>& batch);

  const Read read_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Ask*> waiting_;
  bool reading_ = false;
};

}  // namespace hitl::storage_postgres
