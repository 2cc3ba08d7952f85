#include "app/startup.hpp"

#include "app/app.hpp"
#include "audit/audit_chain.hpp"
#include "cluster/cluster.hpp"
#include "common/hash.hpp"
#include "governance/governance.hpp"
#include "policy/policy_engine.hpp"
#include "review/review.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <map>
#include <sstream>

namespace hitl::service {

void record_start(App& app) {
  std::ifstream in(app.config().file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, std::string> policies;
  for (auto& [name, _] : app.config().domains) policies[name] = app.policies().policy_hash(name);
  for (auto& change : app.governance().record_start(app.config().file.string(), sha256_hex(text.str()), policies))
    spdlog::info("changed since the last start: {}", change);
}

void recover_at_start(App& app) {
  const auto head = audit::chain_head(app.storage());
  spdlog::info("audit chain head seq {} hash {}", head.seq, head.hash);
  record_start(app);
  // With other instances running on the database, the queue's leases are theirs too: ending
  // them all to reconcile would hand their tasks to a second reviewer. The leader returns the
  // claims a dead instance left instead (ReviewService::return_orphaned_claims).
  if (app.cluster().alone_at_start())
    app.review().reconcile_leases();
  else
    spdlog::info("start-up: other instances run on this database: their queue leases are left as they are");
  app.cluster().joined();
}

}  // namespace hitl::service
