// libFuzzer target: hostile return values of a policy's flag(p), read back as a verdict.
//
// The input is the expression flag(p) returns (`return <input>`), in a real policy file loaded
// by PolicyEngine with a small budget, memory cap and deadline, so it reaches everything a
// policy can: the sandbox, the guards (budget, deadline, pattern steps, table loops) and
// read_verdict's checks of every returned string. It must never crash or hang, and a verdict
// that passes must hold what the engine promises (docs/policy.md, "Budgets"): a failure is
// review policy_error; otherwise reason, pool and skills are valid UTF-8 of at most 256 bytes
// without NUL. A broken promise aborts, which libFuzzer reports as a crash.
//
// Links: hitl_policy (and what it links: hitl_common, hitl::sdk, lua5.4, spdlog, OpenSSL::Crypto,
// Threads). Needs HITL_SOURCE_DIR defined (scripts/lib is the policy standard library).
#include "common/utf8.hpp"
#include "policy/policy_engine.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {
namespace fs = std::filesystem;
using namespace hitl::policy;

const fs::path& policy_file() {
  static const fs::path file = [] {
    std::string dir = (fs::temp_directory_path() / "hitl-fuzz-verdict-XXXXXX").string();
    if (!::mkdtemp(dir.data())) std::abort();
    spdlog::set_level(spdlog::level::off);  // every failing input is logged otherwise
    return fs::path(dir) / "policy.lua";
  }();
  return file;
}

void require_text(const std::string& s, bool allow_empty) {
  if ((!allow_empty && s.empty()) || s.size() > 256 || s.find('\0') != std::string::npos || !hitl::valid_utf8(s))
    std::abort();
}

void check_promises(const Verdict& v) {
  if (v.policy_error) {
    if (v.action != Action::review || v.reason != "policy_error" || v.error.empty()) std::abort();
    return;
  }
  if (v.action == Action::auto_approve) return;
  require_text(v.reason, false);
  require_text(v.pool, true);
  for (const auto& skill : v.skills) require_text(skill, false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path& file = policy_file();
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << "local hitl = require \"hitl\"\nreturn { flag = function(p)\nreturn ";
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out << "\nend }\n";
  }
  std::unique_ptr<PolicyEngine> engine;
  try {
    engine = std::make_unique<PolicyEngine>(std::vector<DomainPolicy>{{"d", file}},
                                            fs::path(HITL_SOURCE_DIR) / "scripts" / "lib",
                                            Limits{20'000, 4u << 20, 200});
  } catch (const PolicyError&) {
    return 0;  // not a policy (syntax error, no flag...): the load check refused it
  }
  const std::string domain = "d";
  const nlohmann::json input = {{"text", "über"}, {"amount", 1200}}, meta = nlohmann::json::object();
  const PredictionView prediction{"good", 0.7, {{"good", 0.7}, {"bad", 0.3}}};
  const FlagInput in{&domain, &input, &meta, &prediction};
  check_promises(engine->flag(domain, in));
  check_promises(engine->flag(domain, in));  // again on the same thread: a replaced or reused state
  return 0;
}
