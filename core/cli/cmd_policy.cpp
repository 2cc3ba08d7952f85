// hitl policy check | test | run: a policy on its own, before it goes live (docs/policy.md,
// "Testing a policy").
#include "cli/common.hpp"
#include "policy/policy_cases.hpp"
#include "policy/policy_engine.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

namespace hitl::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct PolicyOptions {
  std::string file, lib, domain, cases, input;
};

fs::path lib_dir_of(const PolicyOptions& o) { return o.lib.empty() ? default_script_lib_dir() : fs::path(o.lib); }

// The domain name the policy sees as p.domain: --domain, else the policy's folder name
// (examples/credit_risk/policy.lua -> credit_risk).
std::string domain_of(const PolicyOptions& o) {
  if (!o.domain.empty()) return o.domain;
  auto folder = fs::absolute(o.file).parent_path().filename().string();
  return folder.empty() ? "default" : folder;
}

std::unique_ptr<policy::PolicyEngine> load_engine(const PolicyOptions& o) {
  try {
    return std::make_unique<policy::PolicyEngine>(std::vector<policy::DomainPolicy>{{domain_of(o), o.file}}, lib_dir_of(o));
  } catch (const std::exception& e) {
    fail(e.what(), 2);
  }
}

void print_result(const policy::CaseResult& r) {
  std::cout << (r.passed ? "  ok    " : "  FAIL  ") << r.name;
  if (!r.passed) {
    std::cout << "  (" << r.source << ")\n";
    for (const auto& d : r.differences) std::cout << "        " << d << "\n";
  } else {
    std::cout << "\n";
  }
}

// Exit status: 0 all passed, 1 a case failed, 2 the policy or the cases could not be loaded.
void run_tests(const PolicyOptions& o) {
  fs::path cases = o.cases.empty() ? policy::default_cases_path(o.file) : fs::path(o.cases);
  if (cases.empty())
    fail("hitl policy test: no cases: give --cases, or put " + fs::path(o.file).stem().string() +
             ".cases.jsonl beside the policy",
         2);
  std::vector<policy::PolicyCase> loaded;
  try {
    loaded = policy::load_cases(cases);
  } catch (const std::exception& e) {
    fail(e.what(), 2);
  }
  if (loaded.empty()) fail("hitl policy test: " + cases.string() + " holds no cases", 2);
  auto engine = load_engine(o);
  const std::string domain = domain_of(o);
  std::cout << "policy " << o.file << " (domain " << domain << "), " << loaded.size() << " cases from " << cases.string()
            << "\n";
  std::size_t failed = 0;
  for (const auto& c : loaded) {
    auto r = policy::run_case(*engine, domain, c);
    print_result(r);
    if (!r.passed) ++failed;
  }
  std::cout << (loaded.size() - failed) << " passed, " << failed << " failed\n";
  if (failed) throw CLI::RuntimeError(1);
}

// One JSON line per input line: the input's id (when it has one) and the policy's answers.
void run_records(const PolicyOptions& o) {
  std::ifstream in(o.input);
  if (!in) fail("hitl policy run: cannot read " + o.input, 2);
  auto engine = load_engine(o);
  const std::string domain = domain_of(o);
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json rec = json::parse(line, nullptr, false);
    json out = {{"line", n}};
    if (rec.is_object() && rec.contains("id")) out["id"] = rec["id"];
    try {
      if (!rec.is_object() || !rec.contains("input") || !rec.contains("prediction"))
        throw std::runtime_error("a record needs \"input\" and \"prediction\"");
      out.update(policy::evaluate_record(*engine, domain, rec));
    } catch (const std::exception& e) {
      out["error"] = std::string("bad record: ") + e.what();
    }
    std::cout << out.dump() << "\n";
  }
}

}  // namespace

void add_policy(CLI::App& root) {
  auto o = std::make_shared<PolicyOptions>();
  auto* policy = root.add_subcommand("policy", "Work with domain policies");
  policy->require_subcommand(1);
  auto* check = policy->add_subcommand("check", "Compile a policy and check its entry points");
  check->add_option("file", o->file, "Policy file (Lua)")->required();
  auto* test = policy->add_subcommand("test", "Run a policy's test cases (exit 1 when one fails)");
  test->add_option("file", o->file, "Policy file (Lua)")->required()->check(CLI::ExistingFile);
  test->add_option("--cases", o->cases, "Case file (.jsonl) or folder of them (default: <stem>.cases.jsonl)");
  auto* run = policy->add_subcommand("run", "Print the policy's answers for each record of a JSON Lines file");
  run->add_option("file", o->file, "Policy file (Lua)")->required()->check(CLI::ExistingFile);
  run->add_option("--input", o->input, "Records, one JSON object per line: {id, input, prediction, meta}")
      ->required()
      ->check(CLI::ExistingFile);
  for (auto* sub : {check, test, run})
    sub->add_option("--lib", o->lib, "Policy standard library folder (default: <exe>/../share/hitl/lua)");
  for (auto* sub : {test, run})
    sub->add_option("--domain", o->domain, "Domain name the policy sees (default: the policy's folder name)");
  check->callback([o] {
    try {
      policy::PolicyEngine::check_file(o->file, lib_dir_of(*o));
    } catch (const std::exception& e) {
      fail(e.what());
    }
    std::cout << "ok: " << o->file << std::endl;
  });
  test->callback([o] { run_tests(*o); });
  run->callback([o] { run_records(*o); });
}

}  // namespace hitl::cli
