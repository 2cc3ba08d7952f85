#include "app/startup.hpp"

#include "app/app.hpp"
#include "audit/audit_chain.hpp"
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
  app.review().reconcile_leases();
}

}  // namespace hitl::service
