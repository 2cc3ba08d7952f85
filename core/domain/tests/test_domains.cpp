#include "domain/domains.hpp"

#include "common/service_error.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

using hitl::service::DomainSettings;
using hitl::service::Domains;
using hitl::service::ServiceError;

namespace {
hitl::config::DomainConfig credit() {
  hitl::config::DomainConfig d;
  d.name = "credit";
  d.labels = {"good", "bad"};
  d.model = "scorer";
  d.ensemble = {"second"};
  d.judge_model = "judge";
  d.shadow_model = "candidate";
  d.lease_seconds = 45;
  d.sla_seconds = 600;
  d.sensitive = {"Income", "meta.email"};
  d.fatigue_max_consecutive = 3;
  d.fatigue_max_per_hour = 20;
  d.sla_at_risk_fraction = 0.5;
  d.webhook_url = "http://127.0.0.1:9/hook";
  return d;
}
}  // namespace

TEST_CASE("a domain's settings come from its config entry, the lease in milliseconds") {
  const Domains domains({{"credit", credit()}});
  const DomainSettings* d = domains.find("credit");
  REQUIRE(d);
  CHECK(d->name == "credit");
  CHECK(d->labels == std::vector<std::string>{"good", "bad"});
  CHECK(d->model_name == "scorer");
  CHECK(d->ensemble == std::vector<std::string>{"second"});
  CHECK(d->judge_name == "judge");
  CHECK(d->shadow_name == "candidate");
  CHECK(d->lease_ms == 45000);
  CHECK(d->sla_seconds == 600);
  CHECK(d->fatigue_max_consecutive == 3);
  CHECK(d->fatigue_max_per_hour == 20);
  CHECK(d->sla_at_risk_fraction == 0.5);
  CHECK(d->webhook_url == "http://127.0.0.1:9/hook");
  CHECK_FALSE(d->gold);
  CHECK(d->has_label("bad"));
  CHECK_FALSE(d->has_label("maybe"));
}

TEST_CASE("the redactor of a domain masks its sensitive fields") {
  const Domains domains({{"credit", credit()}});
  const auto& r = domains.require("credit").redactor;
  REQUIRE_FALSE(r.empty());
  nlohmann::json input = {{"Income", 52000}, {"Age", 40}};
  nlohmann::json meta = {{"email", "a@b.c"}};
  r.input(input);
  r.meta(meta);
  CHECK(input["Income"] == hitl::service::kRedacted);
  CHECK(input["Age"] == 40);
  CHECK(meta["email"] == hitl::service::kRedacted);
}

TEST_CASE("an unknown domain is null to find and a 404 to require") {
  const Domains domains({{"credit", credit()}});
  CHECK(domains.find("fraud") == nullptr);
  try {
    domains.require("fraud");
    FAIL("require accepted an unknown domain");
  } catch (const ServiceError& e) {
    CHECK(e.status == 404);
    CHECK(e.code == "unknown_domain");
    CHECK(e.field == "domain");
    CHECK(std::string(e.what()) == "no domain named \"fraud\"");
  }
}

TEST_CASE("names are sorted and iteration visits every domain") {
  auto fraud = credit();
  fraud.name = "fraud";
  const Domains domains({{"fraud", fraud}, {"credit", credit()}});
  CHECK(domains.names() == std::vector<std::string>{"credit", "fraud"});
  std::size_t n = 0;
  for (const auto& [name, d] : domains) {
    CHECK(name == d.name);
    ++n;
  }
  CHECK(n == 2);
}

TEST_CASE("a domain's golden set is loaded with the settings, and a malformed one stops the start") {
  hitl::test::TempDir dir("hitl-domains");
  auto d = credit();
  d.gold_file = dir.path / "gold.jsonl";
  {
    std::ofstream out(d.gold_file);
    out << R"({"input": {"Age": 30}, "prediction": {"label": "good", "confidence": 0.7}, "label": "bad"})" << "\n";
  }
  const Domains domains({{"credit", d}});
  REQUIRE(domains.require("credit").gold);
  CHECK(domains.require("credit").gold->cases.size() == 1);

  {
    std::ofstream out(d.gold_file);
    out << R"({"input": {"Age": 30}, "prediction": {"label": "good", "confidence": 0.7}, "label": "maybe"})" << "\n";
  }
  CHECK_THROWS_WITH(Domains({{"credit", d}}), Catch::Contains("gold.jsonl"));
}

TEST_CASE("domains made directly, for tests") {
  DomainSettings s;
  s.name = "d";
  s.labels = {"a"};
  const Domains domains(std::vector<DomainSettings>{s});
  REQUIRE(domains.find("d"));
  CHECK(domains.find("d")->has_label("a"));
}
