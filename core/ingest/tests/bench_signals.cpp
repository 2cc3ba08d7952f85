// Per-record cost of the flagging signals on this machine: ood_score against the credit_risk
// example's feature statistics, Signals::record and Signals::window (hitl.stats' host side), and
// flag(p) with and without hitl.stats / p.ood in a policy. Prints nanoseconds per call.
#include "data/feature_stats.hpp"
#include "data/records.hpp"
#include "policy/policy_engine.hpp"
#include "metrics/metrics.hpp"
#include "ingest/signals.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>

using namespace hitl;
using nlohmann::json;

namespace {
double ns_per_call(int n, const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
}
}  // namespace

int main() {
  const std::string src = HITL_SOURCE_DIR;
  const auto stats = data::load_feature_stats(src + "/examples/credit_risk/model/credit_logreg.json");
  if (!stats) return 1;
  const json input = {{"Seniority", 1}, {"Home", "rent"}, {"Time", 60}, {"Age", 25}, {"Marital", "single"},
                      {"Records", "yes"}, {"Job", "partime"}, {"Expenses", 60}, {"Income", 80}, {"Assets", 0},
                      {"Debt", 0}, {"Amount", 900}, {"Price", 1100}};
  const sdk::Record row = data::record_from_json(input);
  volatile double sink = 0;
  std::printf("ood_score (13 features, top 3): %.0f ns\n", ns_per_call(200000, [&] { sink = sink + data::ood_score(*stats, row).score; }));

  service::Metrics metrics({"d"});
  service::Signals signals({{"d", "meta.region", metrics.domain("d")}}, nullptr);
  const std::optional<std::string> seg = std::string("eu");
  std::int64_t now = 1'800'000'000'000;
  std::printf("Signals::record (domain + segment): %.0f ns\n",
              ns_per_call(200000, [&] { signals.record("d", seg, {true, false, false}, now += 7); }));
  policy::WindowFigures f;
  for (std::int64_t w : {60, 3600})
    std::printf("Signals::window(%lld s): %.0f ns\n", static_cast<long long>(w),
                ns_per_call(200000, [&] { signals.window("d", nullptr, w, now, f); }));

  const std::string dir = "/tmp/hitl-bench-signals";
  std::system(("mkdir -p " + dir).c_str());
  std::ofstream(dir + "/plain.lua") << "local hitl = require 'hitl'\nreturn { flag = function(p)\n"
                                       "  if p.prediction.confidence < 0.6 then return hitl.review('u') end\n  return hitl.auto() end }\n";
  std::ofstream(dir + "/signals.lua") << "local hitl = require 'hitl'\nreturn { flag = function(p)\n"
                                         "  local s = hitl.stats(600)\n"
                                         "  if p.ood and p.ood.score > 6 then return hitl.review('ood') end\n"
                                         "  if p.prediction.confidence < (s.flag_rate > 0.5 and 0.5 or 0.6) then return hitl.review('u') end\n"
                                         "  return hitl.auto() end }\n";
  policy::PolicyEngine engine({{"plain", dir + "/plain.lua"}, {"d", dir + "/signals.lua"}}, src + "/scripts/lib");
  engine.set_signals(&signals);
  const std::string plain = "plain", d = "d";
  const json meta = json::object();
  const policy::PredictionView pred{"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}};
  const auto o = data::ood_score(*stats, row);
  const policy::OodView ood{o.score, o.furthest};
  policy::FlagInput base{&plain, &input, &meta, &pred};
  policy::FlagInput rich{&d, &input, &meta, &pred};
  rich.ood = &ood;
  std::printf("flag(p), plain policy: %.0f ns\n", ns_per_call(100000, [&] { sink = sink + engine.flag(plain, base).reason.size(); }));
  std::printf("flag(p), hitl.stats(600) + p.ood: %.0f ns\n", ns_per_call(100000, [&] { sink = sink + engine.flag(d, rich).reason.size(); }));
  return 0;
}
