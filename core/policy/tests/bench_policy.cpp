// bench-policy: flag() calls per second on the credit_risk example policy, one thread and two
// threads (each thread uses its own lua_State). Prints figures; asserts nothing.
//   bench-policy [calls-per-thread [policy.lua]]   (default: examples/credit_risk/policy.lua)
#include "policy/policy_engine.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace hitl::policy;

namespace {
// Returns how many calls went to review (so the work cannot be optimised away).
long run_calls(PolicyEngine& engine, const std::string& domain, long calls) {
  nlohmann::json input = {{"Seniority", 9},  {"Home", "rent"},    {"Time", 60},    {"Age", 30},  {"Marital", "married"},
                          {"Records", "no"}, {"Job", "freelance"}, {"Expenses", 73}, {"Income", 129}, {"Assets", 0},
                          {"Debt", 0},       {"Amount", 800},      {"Price", 846}};
  nlohmann::json meta = {{"source", "bench"}};
  long reviews = 0;
  for (long i = 0; i < calls; ++i) {
    const double p_bad = static_cast<double>(i % 100) / 100.0;
    PredictionView pred{p_bad >= 0.5 ? "bad" : "good", p_bad >= 0.5 ? p_bad : 1 - p_bad, {{"good", 1 - p_bad}, {"bad", p_bad}}};
    FlagInput in{&domain, &input, &meta, &pred};
    if (engine.flag(domain, in).action != Action::auto_approve) ++reviews;
  }
  return reviews;
}

double measure(PolicyEngine& engine, const std::string& domain, int threads, long calls, long& reviewed) {
  std::vector<std::thread> pool;
  std::vector<long> reviews(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { reviews[t] = run_calls(engine, domain, calls); });
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  reviewed = 0;
  for (long r : reviews) reviewed += r;
  return static_cast<double>(calls) * threads / secs;
}
}  // namespace

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 300000;
  const fs::path src(HITL_SOURCE_DIR);
  const std::string domain = "credit_risk";
  const fs::path policy = argc > 2 ? fs::path(argv[2]) : src / "examples/credit_risk/policy.lua";
  PolicyEngine engine({{domain, policy}}, src / "scripts/lib");
  run_calls(engine, domain, 2000);  // warm up: creates this thread's state
  long reviewed = 0;
  const double one = measure(engine, domain, 1, calls, reviewed);
  const double two = measure(engine, domain, 2, calls, reviewed);
  std::printf("bench-policy: %s flag(), 13-field input, %ld calls per thread\n", policy.filename().c_str(), calls);
  std::printf("  1 thread : %10.0f calls/s  (%.2f us/call)\n", one, 1e6 / one);
  std::printf("  2 threads: %10.0f calls/s  (%.2f us/call per thread)\n", two, 2e6 / two);
  std::printf("  verdicts : %.1f%% review or reject, %llu policy errors\n", 100.0 * reviewed / (2.0 * calls),
              static_cast<unsigned long long>(engine.error_count(domain)));
  return 0;
}
