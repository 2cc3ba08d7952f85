// The `hitl` command line, run as a real process.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <sstream>

using hitl::test::run_hitl;
using hitl::test::Service;
using hitl::test::TempDir;
using nlohmann::json;

namespace {
const std::string kSrc = HITL_SOURCE_DIR;
const std::string kFixtures = HITL_FIXTURE_PLUGIN_DIR;

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char ch : s) n += ch == '\n';
  return n;
}
}  // namespace

TEST_CASE("hitl --help lists every command and each command has --help", "[cli]") {
  auto r = run_hitl("--help");
  CHECK(r.exit_code == 0);
  for (auto cmd : {"serve", "token", "ingest", "policy", "plugin", "train", "audit", "reviewer", "dataset"})
    CHECK(r.out.find(cmd) != std::string::npos);
  for (auto sub : {"serve --help", "token create --help", "ingest --help", "policy check --help", "plugin info --help",
                   "train --help", "audit verify --help", "audit export --help", "dataset snapshot --help",
                   "dataset export --help"}) {
    INFO(sub);
    auto h = run_hitl(sub);
    CHECK(h.exit_code == 0);
    CHECK(h.out.find("--") != std::string::npos);
  }
  CHECK(run_hitl("frobnicate").exit_code != 0);
  CHECK(run_hitl("serve").exit_code != 0);  // --config is required
}

TEST_CASE("hitl plugin info describes a good plugin and its options", "[cli]") {
  auto good = run_hitl("plugin info " + kFixtures + "/good.so");
  CHECK(good.exit_code == 0);
  CHECK(good.out.find("fixture-good") != std::string::npos);
  auto storage = run_hitl("plugin info " + std::string(HITL_PLUGIN_DIR) + "/storage-sqlite.so");
  CHECK(storage.exit_code == 0);
  CHECK(storage.out.find("kind:        storage") != std::string::npos);
  CHECK(storage.out.find("path (path") != std::string::npos);
  CHECK(std::regex_search(storage.out, std::regex("interface: +storage [0-9]+\\.[0-9]+")));
}

TEST_CASE("hitl plugin info on each broken fixture prints one line naming file and reason, exits non-zero", "[cli]") {
  struct Case { const char* file; const char* reason; };
  for (auto c : {Case{"bad_abi.so", "descriptor format"}, Case{"old_abi.so", "plugin ABI 5"},
                 Case{"model_next_major.so", "model interface"}, Case{"bad_struct_size.so", "struct_size"},
                 Case{"missing_alias.so", "hitl_plugin_descriptor"}, Case{"not_elf.so", "not a shared object"},
                 Case{"factory_fails.so", "factory"}, Case{"factory_throws.so", "factory"},
                 Case{"does_not_exist.so", "not found"}}) {
    INFO(c.file);
    auto r = run_hitl("plugin info " + kFixtures + "/" + c.file + " --config '{}'");
    INFO(r.out);
    CHECK(r.exit_code != 0);
    CHECK(count_lines(r.out) == 1);
    CHECK(r.out.find(c.file) != std::string::npos);
    CHECK(r.out.find(c.reason) != std::string::npos);
  }
  // Another interface major names both versions.
  auto major = run_hitl("plugin info " + kFixtures + "/model_next_major.so");
  CHECK(std::regex_search(major.out, std::regex("model interface [0-9]+\\.[0-9]+ \\(host has [0-9]+\\.[0-9]+\\)")));
}

TEST_CASE("hitl policy check accepts the example policy and refuses broken ones with the file name", "[cli]") {
  auto ok = run_hitl("policy check " + kSrc + "/examples/credit_risk/policy.lua --lib " + kSrc + "/scripts/lib");
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("ok") != std::string::npos);
  TempDir d;
  auto syntax = d.write("syntax.lua", "return { flag = function(p) return hitl.auto( end }\n");
  auto r = run_hitl("policy check " + syntax.string());
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("syntax.lua") != std::string::npos);
  auto noflag = d.write("noflag.lua", "return { priority = function(t) return 1 end }\n");
  r = run_hitl("policy check " + noflag.string());
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("flag") != std::string::npos);
}

TEST_CASE("hitl serve refuses a bad config naming the file, the key and what was expected", "[cli]") {
  TempDir d;
  auto cfg = d.write("bad.lua", R"(return { listen = "127.0.0.1:0", domains = { x = { policy = 42, labels = {"a"} } } })");
  auto r = run_hitl("serve --config " + cfg.string());
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("bad.lua") != std::string::npos);
  CHECK(r.out.find("domains.x.policy") != std::string::npos);
  CHECK(r.out.find("expected") != std::string::npos);
  auto policy_missing = d.write("nopolicy.lua", R"(return { listen = "127.0.0.1:0", domains = { x = { policy = "missing.lua", labels = {"a"} } } })");
  r = run_hitl("serve --config " + policy_missing.string());
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("missing.lua") != std::string::npos);
}

TEST_CASE("hitl serve --listen and HITL_CLOCK_OFFSET_MS refuse bad values with a clear message", "[cli]") {
  Service s;
  for (auto bad : {"127.0.0.1:99999", "127.0.0.1:http", "8080"}) {
    INFO(bad);
    auto r = run_hitl("serve --config " + s.config.string() + " --listen " + bad);
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("--listen: expected") != std::string::npos);
  }
  auto r = run_hitl("serve --config " + s.config.string() + " --listen 127.0.0.1:0", "HITL_CLOCK_OFFSET_MS=soon");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("HITL_CLOCK_OFFSET_MS: expected an integer") != std::string::npos);
}

TEST_CASE("hitl token create refuses unknown domains and roles", "[cli]") {
  Service s;  // writes a config and creates tokens (which must have worked)
  CHECK(s.admin.rfind("hitl_", 0) == 0);
  CHECK(s.admin != s.client);
  auto r = run_hitl("token create --config " + s.config.string() + " --role reviewer --name z --domains nope");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("nope") != std::string::npos);
  r = run_hitl("token create --config " + s.config.string() + " --role wizard --name z");
  CHECK(r.exit_code != 0);
}

TEST_CASE("hitl ingest runs a JSONL file through the pipeline and prints a records/s summary", "[cli]") {
  Service s;
  std::ofstream f(s.dir.path / "batch.jsonl");
  for (int i = 0; i < 2500; ++i) {
    json rec = {{"id", "j-" + std::to_string(i)}, {"input", {{"amount", i}}},
                {"prediction", {{"label", "good"}, {"confidence", i % 2 ? 0.95 : 0.5}}}};
    f << rec.dump() << "\n";
  }
  f << "{not json}\n";
  f.close();
  auto r = run_hitl("ingest --config " + s.config.string() + " --domain loans " + (s.dir.path / "batch.jsonl").string());
  INFO(r.out);
  CHECK(r.exit_code == 1);  // one invalid line is reported and makes the exit status non-zero
  CHECK(r.out.find("batch.jsonl:2501") != std::string::npos);
  CHECK(std::regex_search(r.out, std::regex("ingested 2501 records in [0-9.]+ s \\([0-9]+ records/s\\): "
                                            "1250 auto_approved, 1250 pending_review")));
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions WHERE domain = 'loans'").getInt() == 2500);
  CHECK(db.execAndGet("SELECT count(*) FROM tasks WHERE status = 'pending'").getInt() == 1250);
  CHECK(db.execAndGet("SELECT count(*) FROM audit WHERE action = 'decision.created'").getInt() == 2500);
  // Running the same file again changes nothing: every id is a duplicate.
  r = run_hitl("ingest --config " + s.config.string() + " --domain loans " + (s.dir.path / "batch.jsonl").string());
  CHECK(r.out.find("2500 duplicates") != std::string::npos);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions").getInt() == 2500);
  // The tasks it opened are served to reviewers by a running service.
  s.start();
  hitl::test::HttpClient c(s.port());
  auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer);
  CHECK(t.status == 200);
  r = run_hitl("ingest --config " + s.config.string() + " --domain nope " + (s.dir.path / "batch.jsonl").string());
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("unknown domain") != std::string::npos);
}

TEST_CASE("hitl ingest scores a CSV with the domain's model", "[cli]") {
  Service s;
  // The first 300 rows of the example data set.
  std::ifstream in(kSrc + "/examples/credit_risk/data/credit_data.csv");
  std::ofstream out(s.dir.path / "credit.csv");
  std::string line;
  for (int i = 0; i <= 300 && std::getline(in, line); ++i) out << line << "\n";
  out.close();
  auto r = run_hitl("ingest --config " + s.config.string() + " --domain credit_risk " + (s.dir.path / "credit.csv").string());
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("ingested 300 records") != std::string::npos);
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions WHERE domain = 'credit_risk' AND model_version LIKE 'logreg-%'").getInt() == 300);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions WHERE domain = 'credit_risk' AND status = 'pending_review'").getInt() > 0);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions WHERE domain = 'credit_risk' AND status = 'auto_approved'").getInt() > 0);
}

TEST_CASE("hitl train fits the domain's model on a CSV and writes a loadable artifact", "[cli]") {
  Service s;
  auto artifact = s.dir.path / "out" / "model.json";
  auto r = run_hitl("train --config " + s.config.string() + " --domain credit_risk --data " + kSrc +
                    "/examples/credit_risk/data/credit_data.csv --label Status --out " + artifact.string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("4454 rows") != std::string::npos);
  std::ifstream f(artifact);
  auto j = json::parse(f);
  CHECK(j["format"] == "hitl-logreg");
  CHECK(j["classes"].size() == 2);
  // The same data trains the same artifact (deterministic), byte for byte.
  auto again = s.dir.path / "out" / "again.json";
  REQUIRE(run_hitl("train --config " + s.config.string() + " --domain credit_risk --data " + kSrc +
                   "/examples/credit_risk/data/credit_data.csv --label Status --out " + again.string()).exit_code == 0);
  std::ifstream f1(artifact), f2(again);
  std::string a((std::istreambuf_iterator<char>(f1)), {}), b((std::istreambuf_iterator<char>(f2)), {});
  CHECK(a == b);
  auto bad = run_hitl("train --config " + s.config.string() + " --domain credit_risk --data " + kSrc +
                      "/examples/credit_risk/data/credit_data.csv --label NoSuchColumn --out " + again.string());
  CHECK(bad.exit_code != 0);
  CHECK(bad.out.find("NoSuchColumn") != std::string::npos);
  auto nomodel = run_hitl("train --config " + s.config.string() + " --domain loans --data " + kSrc +
                          "/examples/credit_risk/data/credit_data.csv --label Status");
  CHECK(nomodel.exit_code != 0);
  CHECK(nomodel.out.find("has no model") != std::string::npos);
}

TEST_CASE("hitl audit verify passes an intact trail, names the first tampered record, and export writes JSONL", "[cli]") {
  Service s;  // creating its tokens wrote the first audit records
  {
    std::ofstream f(s.dir.path / "batch.jsonl");
    for (int i = 0; i < 30; ++i)
      f << json{{"id", "a-" + std::to_string(i)}, {"input", {{"amount", i}}},
                {"prediction", {{"label", "good"}, {"confidence", 0.95}}}}.dump()
        << "\n";
  }
  auto ingest = run_hitl("ingest --config " + s.config.string() + " --domain loans " + (s.dir.path / "batch.jsonl").string());
  INFO(ingest.out);
  REQUIRE(ingest.exit_code == 0);
  int records = 0;
  {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
    records = db.execAndGet("SELECT count(*) FROM audit").getInt();
  }
  REQUIRE(records >= 30);

  auto ok = run_hitl("audit verify --config " + s.config.string());
  INFO(ok.out);
  CHECK(ok.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(ok.out, m, std::regex("audit chain ok: ([0-9]+) records, head ([0-9a-f]{64})")));
  CHECK(std::stoi(m[1]) == records);
  const std::string head = m[2];

  // `hitl serve` logs the same head when it starts.
  s.start();
  s.stop();
  CHECK_THAT(s.log(), Catch::Contains("audit chain head seq " + std::to_string(records) + " hash " + head));

  auto out = s.dir.path / "audit.jsonl";
  auto ex = run_hitl("audit export --config " + s.config.string() + " --from 2 --to 4 --out " + out.string());
  INFO(ex.out);
  CHECK(ex.exit_code == 0);
  CHECK(ex.out.find("exported 3 audit records") != std::string::npos);
  std::ifstream in(out);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["seq"] == 2);
  CHECK(lines[2]["seq"] == 4);
  CHECK(lines[1]["prev_hash"] == lines[0]["hash"]);
  auto bad_range = run_hitl("audit export --config " + s.config.string() + " --from 5 --to 4");
  CHECK(bad_range.exit_code != 0);
  CHECK(bad_range.out.find("--to 4 is before --from 5") != std::string::npos);

  {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READWRITE);
    db.exec("DROP TRIGGER audit_no_update");
    db.exec("UPDATE audit SET actor = 'mallory' WHERE seq = 10");
  }
  auto broken = run_hitl("audit verify --config " + s.config.string());
  INFO(broken.out);
  CHECK(broken.exit_code == 1);
  CHECK(broken.out.find("audit chain broken at seq 10: hash mismatch") != std::string::npos);
}

TEST_CASE("log.format json writes one valid JSON object per log line, whatever the message holds", "[cli]") {
  TempDir d;
  d.write("quotes.lua", "return { flag = function(p) error('he said \"no\"\\tand\\\\left') end }\n");
  d.write("hitl.lua", R"(return {
  log = { format = "json", level = "info" },
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  queue   = { plugin = "sqlite", config = { path = "hitl.db" } },
  domains = { q = { policy = "quotes.lua", labels = { "yes", "no" } } },
})");
  d.write("one.jsonl", R"({"id":"1","input":{},"prediction":{"label":"yes","confidence":0.9}})" "\n");
  auto r = run_hitl("ingest --config " + (d.path / "hitl.lua").string() + " --domain q " + (d.path / "one.jsonl").string());
  INFO(r.out);
  CHECK(r.exit_code == 0);
  int json_lines = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto j = json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j.contains("ts"));
    CHECK(j.contains("level"));
    if (j["msg"].get<std::string>().find("he said \"no\"") != std::string::npos) ++json_lines;
  }
  CHECK(json_lines >= 1);  // the policy error, quotes intact
}
