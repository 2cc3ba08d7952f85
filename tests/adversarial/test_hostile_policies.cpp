// Hostile policies against a real `hitl serve` (issue 14): a policy that escapes the budget
// through an xpcall handler, a finalizer, a __close handler, a pathological pattern or a C library loop,
// or that returns invalid UTF-8, must get each request a fail-closed reply (pending_review,
// policy_error), leave /healthz answering during and after, and never keep SIGTERM from
// stopping the process.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>
#include <vector>

using hitl::test::HttpClient;
using hitl::test::Service;
using nlohmann::json;

namespace {

struct Hostile {
  const char* domain;
  const char* flag_body;  // the body of flag(p)
};

// Each used to hang an I/O thread for good, run for minutes, or make the record unstorable.
const std::vector<Hostile> kHostile = {
    {"xpcall_spin", "xpcall(function() while true do end end, function() while true do end end)"},
    {"gc_spin", "setmetatable({}, {__gc = function() while true do end end}) collectgarbage('count')"},
    {"close_spin", "local x <close> = setmetatable({}, {__close = function() while true do end end}) error('x')"},
    {"handler_pcall", "xpcall(function() while true do end end, function() while true do pcall(error) end end)"},
    {"pattern", "string.find(string.rep('a', 300), '.-.-.-.-b')"},
    {"pattern_caught", "for i = 1, 1e9 do pcall(string.gsub, string.rep('a', 200), 'a-a-b', '') end"},
    {"table_move", "table.move({}, 1, 1 << 40, 2)"},
    {"bad_utf8", "return require('hitl').review(string.sub('\xC3\xBC' .. p.input.text, 1, 1))"},
    {"nul_pool", "return { action = 'review', reason = 'r', pool = 'a\\0b' }"},
};

// Writes each hostile policy into `dir` and returns the config's entries for their domains (the
// Service checks its config, policies included, when it creates its tokens).
std::string write_domains(const hitl::test::TempDir& dir) {
  std::string out;
  for (const auto& h : kHostile) {
    const auto file = dir.write(std::string(h.domain) + ".lua", std::string("return { flag = function(p) do ") +
                                                                    h.flag_body + " end return require('hitl').auto() end }\n");
    out += std::string(h.domain) + " = { policy = \"" + file.string() + "\", labels = { \"good\", \"bad\" } },\n";
  }
  return out;
}

std::string prediction(const std::string& id) {
  return json{{"id", id}, {"input", {{"text", "über"}}}, {"prediction", {{"label", "good"}, {"confidence", 0.99}}}}.dump();
}

}  // namespace

TEST_CASE("hostile policies fail closed, healthz answers throughout, and SIGTERM stops the service",
          "[adversarial]") {
  hitl::test::TempDir policies;
  Service s(write_domains(policies));
  s.start();
  for (const auto& h : kHostile) {
    INFO(h.domain);
    // Two requests at once (two such requests used to stop the service answering) while another
    // connection asks /healthz.
    const auto started = std::chrono::steady_clock::now();
    auto post = [&](const std::string& id) {
      HttpClient c(s.port());
      return c.request("POST", std::string("/v1/domains/") + h.domain + "/predictions", s.client, prediction(id));
    };
    auto first = std::async(std::launch::async, post, std::string(h.domain) + "-1");
    auto second = std::async(std::launch::async, post, std::string(h.domain) + "-2");
    HttpClient health(s.port());
    CHECK(health.request("GET", "/healthz", "").status == 200);
    for (auto* f : {&first, &second}) {
      REQUIRE(f->wait_for(std::chrono::seconds(5)) == std::future_status::ready);
      auto r = f->get();
      INFO(r.body);
      REQUIRE(r.status == 200);
      CHECK(r.json()["status"] == "pending_review");
      CHECK(r.json()["reason"] == "policy_error");
    }
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    CHECK(health.request("GET", "/healthz", "").status == 200);
  }
  HttpClient c(s.port());
  auto m = c.request("GET", "/metrics", s.admin);
  CHECK(m.body.find("hitl_policy_errors_total{domain=\"xpcall_spin\"} 2") != std::string::npos);
  const auto stopping = std::chrono::steady_clock::now();
  s.stop();
  CHECK_FALSE(s.running());
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(5));  // SIGTERM, not the SIGKILL fallback
}
