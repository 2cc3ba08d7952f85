// hitl::service::Metrics rendered as Prometheus text: the strict checker finds no problem, values
// match what was recorded, and (when installed) `promtool check metrics` accepts the text.
#include "metrics/metrics.hpp"
#include "support/prometheus_text.hpp"

#include <catch2/catch.hpp>
#include "support/skip.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using hitl::service::Metrics;
using hitl::testing::check_prometheus_text;
using hitl::testing::parse_samples;
using hitl::testing::series_key;

extern const std::vector<std::string> kValidExpositions;  // test_prometheus_text.cpp

namespace {

Metrics::Gauge depth(const std::string& d) { return {d, d == "credit_risk" ? 3 : 0, d == "credit_risk" ? 1 : 0}; }

std::string flagged_key(const std::string& domain, const std::string& reason, const std::string& band) {
  return series_key("hitl_flagged_total", {{"domain", domain}, {"reason", reason}, {"priority", band}});
}
std::string bucket_key(const std::string& domain, const std::string& le) {
  return series_key("hitl_review_turnaround_seconds_bucket", {{"domain", domain}, {"le", le}});
}
std::string domain_key(const std::string& name, const std::string& domain) {
  return series_key(name, {{"domain", domain}});
}

void require_clean(const std::string& text) {
  const auto problems = check_prometheus_text(text);
  INFO(text);
  CAPTURE(problems);
  REQUIRE(problems.empty());
}

// Runs `promtool check metrics` on `text`; returns its exit status and output. promtool reads the
// metrics on standard input.
struct Promtool {
  int status = -1;
  std::string output;
};
bool have_promtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }
Promtool run_promtool(const std::string& text) {
  static int counter = 0;
  const auto path = std::filesystem::temp_directory_path() /
                    ("hitl-metrics-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".prom");
  { std::ofstream(path, std::ios::binary) << text; }
  Promtool r;
  const std::string cmd = "promtool check metrics < '" + path.string() + "' 2>&1";
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::filesystem::remove(path);
  return r;
}

// A Metrics with every kind of series recorded.
void populate(Metrics& m) {
  auto* c = m.domain("credit_risk");
  REQUIRE(c);
  c->predictions += 10;
  c->auto_approved += 6;
  c->pending_review += 3;
  c->rejected += 1;
  c->policy_errors += 2;
  c->reviews_correct += 1;
  c->claims += 4;
  m.http_requests += 42;
  m.http_errors += 2;
  m.storage_commits += 7;

  m.flagged("credit_risk", "high_amount", 0.9);   // high
  m.flagged("credit_risk", "high_amount", 0.67);  // high (boundary)
  m.flagged("credit_risk", "high_amount", NAN);   // high: NaN is treated as urgent
  m.flagged("credit_risk", "high_amount", 0.5);   // medium
  m.flagged("credit_risk", "high_amount", 0.34);  // medium (boundary)
  m.flagged("credit_risk", "high_amount", 0.3399);  // low
  m.flagged("credit_risk", "high_amount", -2);      // low
  m.flagged("credit_risk", "low_confidence", 0.1);  // low
  m.flagged("credit_risk", "policy_error", 1.0);    // high

  m.review_completed("credit_risk", "approve", 0.5, false, false);   // le=1
  m.review_completed("credit_risk", "approve", 1.0, false, false);   // le=1 (inclusive)
  m.review_completed("credit_risk", "reject", -3, false, false);     // clock skew: counts as 0, le=1
  m.review_completed("credit_risk", "correct", 1.5, true, false);    // le=5
  m.review_completed("credit_risk", "correct", 700, true, true);     // le=900
  m.review_completed("credit_risk", "approve", 1e6, false, true);    // above 604800: +Inf only
  m.review_completed("credit_risk", "approve", NAN, false, false);   // not observed
  m.sla_breached("credit_risk");
  m.sla_breached("credit_risk");

  m.plugin_error("model", "logreg");
  m.plugin_error("model", "logreg");
  m.plugin_error("storage", "sqlite");
  m.plugin_error("bogus", "x");  // not a plugin kind: ignored
}

}  // namespace

TEST_CASE("metrics: priority bands", "[metrics]") {
  CHECK(std::string(Metrics::priority_band(1.0)) == "high");
  CHECK(std::string(Metrics::priority_band(0.67)) == "high");
  CHECK(std::string(Metrics::priority_band(0.6699)) == "medium");
  CHECK(std::string(Metrics::priority_band(0.34)) == "medium");
  CHECK(std::string(Metrics::priority_band(0.3399)) == "low");
  CHECK(std::string(Metrics::priority_band(-1)) == "low");
  CHECK(std::string(Metrics::priority_band(NAN)) == "high");
  CHECK(std::string(Metrics::priority_band(INFINITY)) == "high");
  CHECK(std::string(Metrics::priority_band(-INFINITY)) == "low");
}

TEST_CASE("metrics: a fresh Metrics renders valid text with zero-valued series", "[metrics]") {
  Metrics m({"credit_risk", "fraud"});
  for (bool with_depth : {true, false}) {
    const std::string text = with_depth ? m.render_prometheus(depth) : m.render_prometheus({});
    require_clean(text);
    auto s = parse_samples(text);
    for (const char* d : {"credit_risk", "fraud"}) {
      CHECK(s.at(domain_key("hitl_corrections_total", d)) == 0);
      CHECK(s.at(domain_key("hitl_sla_breaches_total", d)) == 0);
      CHECK(s.at(domain_key("hitl_policy_errors_total", d)) == 0);
      CHECK(s.at(domain_key("hitl_review_turnaround_seconds_count", d)) == 0);
      CHECK(s.at(domain_key("hitl_review_turnaround_seconds_sum", d)) == 0);
      CHECK(s.at(bucket_key(d, "+Inf")) == 0);
    }
    // Label combinations that never happened have no series (nor an empty family).
    CHECK(text.find("hitl_flagged_total") == std::string::npos);
    CHECK(text.find("hitl_plugin_errors_total") == std::string::npos);
    CHECK((text.find("hitl_queue_depth") != std::string::npos) == with_depth);
  }
}

TEST_CASE("metrics: recorded values are rendered", "[metrics]") {
  Metrics m({"credit_risk", "fraud"});
  populate(m);
  const std::string text = m.render_prometheus(depth);
  require_clean(text);
  auto s = parse_samples(text);

  SECTION("existing series keep their names and values") {
    CHECK(s.at(domain_key("hitl_predictions_total", "credit_risk")) == 10);
    CHECK(s.at(series_key("hitl_decisions_total", {{"domain", "credit_risk"}, {"status", "auto_approved"}})) == 6);
    CHECK(s.at(series_key("hitl_decisions_total", {{"domain", "credit_risk"}, {"status", "pending_review"}})) == 3);
    CHECK(s.at(series_key("hitl_decisions_total", {{"domain", "credit_risk"}, {"status", "rejected"}})) == 1);
    CHECK(s.at(domain_key("hitl_policy_errors_total", "credit_risk")) == 2);
    CHECK(s.at(domain_key("hitl_model_errors_total", "fraud")) == 0);
    CHECK(s.at(domain_key("hitl_duplicates_total", "fraud")) == 0);
    CHECK(s.at(series_key("hitl_reviews_total", {{"domain", "credit_risk"}, {"outcome", "correct"}})) == 1);
    CHECK(s.at(series_key("hitl_reviews_total", {{"domain", "credit_risk"}, {"outcome", "approve"}})) == 0);
    CHECK(s.at(domain_key("hitl_task_claims_total", "credit_risk")) == 4);
    CHECK(s.at(domain_key("hitl_leases_expired_total", "credit_risk")) == 0);
    CHECK(s.at(series_key("hitl_queue_depth", {{"domain", "credit_risk"}, {"state", "ready"}})) == 3);
    CHECK(s.at(series_key("hitl_queue_depth", {{"domain", "credit_risk"}, {"state", "leased"}})) == 1);
    CHECK(s.at("hitl_http_requests_total") == 42);
    CHECK(s.at("hitl_http_errors_total") == 2);
    CHECK(s.at("hitl_storage_commits_total") == 7);
  }

  SECTION("flagged by reason and priority band") {
    CHECK(s.at(flagged_key("credit_risk", "high_amount", "high")) == 3);
    CHECK(s.at(flagged_key("credit_risk", "high_amount", "medium")) == 2);
    CHECK(s.at(flagged_key("credit_risk", "high_amount", "low")) == 2);
    CHECK(s.at(flagged_key("credit_risk", "low_confidence", "low")) == 1);
    CHECK(s.at(flagged_key("credit_risk", "low_confidence", "high")) == 0);  // bands of a seen reason start at 0
    CHECK(s.at(flagged_key("credit_risk", "policy_error", "high")) == 1);
    CHECK(s.count(flagged_key("fraud", "high_amount", "high")) == 0);  // never happened in fraud
  }

  SECTION("turnaround histogram, corrections, SLA breaches") {
    const std::vector<std::pair<std::string, double>> expected = {
        {"1", 3},    {"5", 4},    {"15", 4},    {"30", 4},     {"60", 4},     {"300", 4},    {"900", 5},    {"1800", 5},
        {"3600", 5}, {"7200", 5}, {"14400", 5}, {"43200", 5}, {"86400", 5}, {"172800", 5}, {"604800", 5}, {"+Inf", 6}};
    for (auto& [le, n] : expected) {
      INFO("le=" << le);
      CHECK(s.at(bucket_key("credit_risk", le)) == n);
      CHECK(s.at(bucket_key("fraud", le)) == 0);
    }
    CHECK(s.at(domain_key("hitl_review_turnaround_seconds_count", "credit_risk")) == 6);
    CHECK(s.at(domain_key("hitl_review_turnaround_seconds_sum", "credit_risk")) == Approx(0.5 + 1 + 0 + 1.5 + 700 + 1e6));
    CHECK(s.at(domain_key("hitl_corrections_total", "credit_risk")) == 2);
    CHECK(s.at(domain_key("hitl_corrections_total", "fraud")) == 0);
    CHECK(s.at(domain_key("hitl_sla_breaches_total", "credit_risk")) == 4);  // 2 at completion + 2 by the timer
    CHECK(s.at(domain_key("hitl_sla_breaches_total", "fraud")) == 0);
    // Buckets are written in increasing le order, +Inf last, then _sum and _count.
    const auto first = text.find("hitl_review_turnaround_seconds_bucket{domain=\"credit_risk\",le=\"1\"}");
    const auto inf = text.find("hitl_review_turnaround_seconds_bucket{domain=\"credit_risk\",le=\"+Inf\"}");
    const auto last = text.find("hitl_review_turnaround_seconds_bucket{domain=\"credit_risk\",le=\"604800\"}");
    REQUIRE(first != std::string::npos);
    CHECK(first < last);
    CHECK(last < inf);
  }

  SECTION("plugin errors") {
    CHECK(s.at(series_key("hitl_plugin_errors_total", {{"kind", "model"}, {"plugin", "logreg"}})) == 2);
    CHECK(s.at(series_key("hitl_plugin_errors_total", {{"kind", "storage"}, {"plugin", "sqlite"}})) == 1);
    CHECK(text.find("bogus") == std::string::npos);
  }

  SECTION("exactly one HELP and TYPE per family, counters as integers") {
    std::set<std::string> help, type, counters;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream w(line);
      std::string hash, kw, name, t;
      w >> hash >> kw >> name >> t;
      if (hash != "#") continue;
      if (kw == "HELP") CHECK(help.insert(name).second);
      if (kw == "TYPE") {
        CHECK(type.insert(name).second);
        if (t == "counter") counters.insert(name);
      }
    }
    CHECK(help == type);
    CHECK(counters.count("hitl_flagged_total"));
    CHECK(counters.count("hitl_plugin_errors_total"));
    CHECK(type.count("hitl_review_turnaround_seconds"));
    std::istringstream again(text);
    while (std::getline(again, line)) {
      if (line.empty() || line[0] == '#') continue;
      const std::string name = line.substr(0, line.find_first_of("{ "));
      if (!counters.count(name)) continue;
      const std::string value = line.substr(line.rfind(' ') + 1);
      INFO(line);
      CHECK(value.find_first_not_of("0123456789") == std::string::npos);
    }
  }
}

TEST_CASE("metrics: unknown domains are ignored", "[metrics]") {
  Metrics m({"credit_risk"});
  CHECK(m.domain("nope") == nullptr);
  m.flagged("nope", "x", 0.9);
  m.review_completed("nope", "approve", 10, true, true);
  m.sla_breached("nope");
  m.flagged("", "x", 0.9);
  const std::string text = m.render_prometheus(depth);
  require_clean(text);
  CHECK(text.find("nope") == std::string::npos);
  CHECK(text.find("hitl_flagged_total") == std::string::npos);
  auto s = parse_samples(text);
  CHECK(s.at(domain_key("hitl_corrections_total", "credit_risk")) == 0);
  CHECK(s.at(domain_key("hitl_sla_breaches_total", "credit_risk")) == 0);
}

TEST_CASE("metrics: distinct reasons are capped per domain, the rest count as \"other\"", "[metrics]") {
  Metrics m({"credit_risk", "fraud"});
  const std::size_t cap = Metrics::kMaxReasonsPerDomain;
  REQUIRE(cap == 64);
  for (std::size_t i = 0; i < cap + 6; ++i) m.flagged("fraud", "reason_" + std::to_string(i), 0.9);
  m.flagged("fraud", "reason_0", 0.9);       // a reason kept before the cap goes on counting
  m.flagged("fraud", "reason_1000", 0.1);    // a new one after the cap: "other"
  m.flagged("credit_risk", "reason_99", 0.5);  // the cap is per domain
  const std::string text = m.render_prometheus({});
  require_clean(text);
  auto s = parse_samples(text);
  CHECK(s.at(flagged_key("fraud", "reason_0", "high")) == 2);
  CHECK(s.at(flagged_key("fraud", "reason_63", "high")) == 1);
  CHECK(s.count(flagged_key("fraud", "reason_64", "high")) == 0);
  CHECK(s.at(flagged_key("fraud", "other", "high")) == 6);
  CHECK(s.at(flagged_key("fraud", "other", "low")) == 1);
  CHECK(s.at(flagged_key("credit_risk", "reason_99", "medium")) == 1);
  std::size_t fraud_reasons = 0;
  for (auto& [k, v] : s)
    if (k.rfind("hitl_flagged_total{domain=\"fraud\"", 0) == 0 && k.find("priority=\"high\"") != std::string::npos) ++fraud_reasons;
  CHECK(fraud_reasons == cap + 1);  // 64 reasons and "other"
}

TEST_CASE("metrics: free-text label values are escaped and made valid UTF-8", "[metrics]") {
  Metrics m({"credit_risk"});
  const std::string nasty = "say \"hi\" \\ then\nnew line";
  m.flagged("credit_risk", nasty, 0.9);
  m.flagged("credit_risk", "caf\xc3\xa9 \xe2\x82\xac", 0.9);  // valid UTF-8 is kept as is
  m.flagged("credit_risk", "bad \xff byte", 0.9);            // invalid UTF-8: U+FFFD
  m.flagged("credit_risk", std::string(300, 'a'), 0.9);       // cut to kMaxLabelValueBytes
  m.flagged("credit_risk", std::string(127, 'b') + "\xc3\xa9", 0.9);  // not cut inside a character
  m.plugin_error("model", "my \"vendor\" model");
  const std::string text = m.render_prometheus({});
  require_clean(text);
  CHECK(text.find(R"(reason="say \"hi\" \\ then\nnew line")") != std::string::npos);
  CHECK(text.find(R"(plugin="my \"vendor\" model")") != std::string::npos);
  auto s = parse_samples(text);
  CHECK(s.at(flagged_key("credit_risk", nasty, "high")) == 1);
  CHECK(s.at(flagged_key("credit_risk", "caf\xc3\xa9 \xe2\x82\xac", "high")) == 1);
  CHECK(s.at(flagged_key("credit_risk", "bad \xef\xbf\xbd byte", "high")) == 1);
  CHECK(s.at(flagged_key("credit_risk", std::string(Metrics::kMaxLabelValueBytes, 'a'), "high")) == 1);
  CHECK(s.at(flagged_key("credit_risk", std::string(127, 'b'), "high")) == 1);
}

TEST_CASE("metrics: concurrent recording while rendering", "[metrics]") {
  Metrics m({"credit_risk", "fraud"});
  constexpr int kThreads = 4, kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.flagged(i % 2 ? "fraud" : "credit_risk", "r" + std::to_string((i * 7 + t) % 100), (i % 10) / 10.0);
        m.review_completed("credit_risk", "approve", i % 4000, i % 3 == 0, i % 5 == 0);
        if (i % 100 == 0) m.plugin_error("queue", "q" + std::to_string(t));
      }
    });
  for (int r = 0; r < 20; ++r) require_clean(m.render_prometheus({}));
  for (auto& th : threads) th.join();
  const std::string text = m.render_prometheus({});
  require_clean(text);
  auto s = parse_samples(text);
  double flagged = 0;
  for (auto& [k, v] : s)
    if (k.rfind("hitl_flagged_total{", 0) == 0) flagged += v;
  CHECK(flagged == kThreads * kPerThread);
  CHECK(s.at(domain_key("hitl_review_turnaround_seconds_count", "credit_risk")) == kThreads * kPerThread);
  CHECK(s.at(bucket_key("credit_risk", "+Inf")) == kThreads * kPerThread);
  CHECK(s.at(series_key("hitl_plugin_errors_total", {{"kind", "queue"}, {"plugin", "q0"}})) == kPerThread / 100);
}

TEST_CASE("metrics: promtool check metrics accepts the rendered text", "[metrics][promtool]") {
  if (!have_promtool()) {
    HITL_SKIP("promtool not on PATH (Debian package `prometheus`): cannot run `promtool check metrics`");
  }
  Metrics m({"credit_risk", "fraud"});
  populate(m);
  m.flagged("credit_risk", "say \"hi\" \\ then\nnew line", 0.2);
  for (const std::string& text : {m.render_prometheus(depth), Metrics({"credit_risk"}).render_prometheus({})}) {
    auto r = run_promtool(text);
    INFO("promtool said:\n" << r.output);
    INFO("text:\n" << text);
    CHECK(r.status == 0);
  }
}

TEST_CASE("checker: promtool parses every text the checker calls valid", "[prometheus_text][promtool]") {
  if (!have_promtool()) {
    HITL_SKIP("promtool not on PATH (Debian package `prometheus`): cannot cross-check with promtool");
  }
  // Exit 1 is a parse failure; 3 is lint advice only (e.g. a counter without HELP), which the
  // hand-written fixtures may well deserve.
  for (auto& text : kValidExpositions) {
    auto r = run_promtool(text);
    INFO("promtool said:\n" << r.output);
    INFO("text:\n" << text);
    CHECK((r.status == 0 || r.status == 3));
  }
}

TEST_CASE("metrics: a family with fixed label values counts per domain and ignores what it does not know",
          "[metrics]") {
  Metrics m({"credit_risk", "churn"});
  const auto f = m.add_family("hitl_shadow_policy_differences_total", "Differences by kind.", "kind",
                              {"auto->review", "reason_changed"});
  m.count(f, "credit_risk", 0);
  m.count(f, "credit_risk", 0);
  m.count(f, "churn", 1);
  m.count(f, "nope", 0);         // unknown domain
  m.count(f, "credit_risk", 2);  // unknown value
  m.count(f + 1, "credit_risk", 0);  // unknown family
  CHECK(m.value(f, "credit_risk", 0) == 2);
  CHECK(m.value(f, "credit_risk", 1) == 0);
  CHECK(m.value(f, "churn", 1) == 1);
  CHECK(m.value(f, "nope", 0) == 0);
  CHECK(m.value(f, "credit_risk", 2) == 0);
  const std::string text = m.render_prometheus(depth);
  require_clean(text);
  auto s = parse_samples(text);
  const std::string name = "hitl_shadow_policy_differences_total";
  CHECK(s.at(series_key(name, {{"domain", "credit_risk"}, {"kind", "auto->review"}})) == 2);
  CHECK(s.at(series_key(name, {{"domain", "churn"}, {"kind", "reason_changed"}})) == 1);
  CHECK(s.at(series_key(name, {{"domain", "churn"}, {"kind", "auto->review"}})) == 0);
  CHECK(text.find("nope") == std::string::npos);
}

TEST_CASE("metrics: the estimated accuracy over all traffic comes from the counters as outcomes arrive", "[metrics]") {
  Metrics m({"d"});
  auto* c = m.domain("d");
  // Before any answered audit sample there is no estimate: the reviewed slice is not all traffic.
  for (int i = 0; i < 10; ++i) m.estimate_outcome("d", /*audit_sample=*/false, /*model_right=*/i < 6);
  c->auto_approved += 80;
  c->audit_drawn += 20;
  auto s = parse_samples(m.render_prometheus({}));
  CHECK(s.count(series_key("hitl_estimated_accuracy", {{"domain", "d"}, {"who", "model"}})) == 0);
  // 20 audit samples, 18 kept the model's label: the 100 automatic decisions are 90% right.
  for (int i = 0; i < 20; ++i) m.estimate_outcome("d", true, i < 18);
  m.estimate_outcome("unknown", true, true);  // ignored
  const std::string text = m.render_prometheus({});
  require_clean(text);
  s = parse_samples(text);
  CHECK(s.at(domain_key("hitl_audit_drawn_total", "d")) == 20);
  CHECK(s.at(domain_key("hitl_audit_samples_total", "d")) == 20);
  // model: (6 + 100 * 0.9) / 110; system: the reviewed cases delivered the person's label, (10 + 90) / 110.
  CHECK(s.at(series_key("hitl_estimated_accuracy", {{"domain", "d"}, {"who", "model"}})) == Approx(96.0 / 110));
  CHECK(s.at(series_key("hitl_estimated_accuracy", {{"domain", "d"}, {"who", "system"}})) == Approx(100.0 / 110));
  // Wilson at 95% for 18/20 is 0.6990 .. 0.9721, mapped through (census + 100 x) / 110.
  CHECK(s.at(series_key("hitl_estimated_accuracy_ci95", {{"domain", "d"}, {"who", "system"}, {"bound", "low"}})) ==
        Approx((10 + 100 * 0.6990) / 110).margin(1e-4));
  CHECK(s.at(series_key("hitl_estimated_accuracy_ci95", {{"domain", "d"}, {"who", "model"}, {"bound", "high"}})) ==
        Approx((6 + 100 * 0.9721) / 110).margin(1e-4));
}
