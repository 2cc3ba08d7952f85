// hitl reviewer add | list | disable | enable: the reviewer registry, straight on storage (a
// running `hitl serve` sees changes within 5 s).
#include "cli/common.hpp"
#include "review/assignment.hpp"
#include "review/reviewers.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iomanip>
#include <iostream>

namespace hitl::cli {

namespace {

std::unique_ptr<ConfiguredStorage> open_or_fail(const std::string& command, const std::string& config) {
  try {
    return open_configured_storage(config);
  } catch (const std::exception& e) {
    fail(command + ": " + e.what());
  }
}

// The reviewer directory straight on storage: each change is its own commit.
service::ReviewerDirectory directory_on(sdk::Storage& storage) {
  return service::ReviewerDirectory(storage, [&storage](sdk::WriteBatch& b) { return storage.commit(b); });
}

void reviewer_add_command(CLI::App& cmd) {
  struct AddO {
    std::string config, id, name, roles = "reviewer", domains, skills;
    std::int64_t capacity = 1;
    double cost = 0;
  };
  auto a = std::make_shared<AddO>();
  auto* add = cmd.add_subcommand("add", "Add or update a reviewer (the id is their reviewer token's name)");
  add->add_option("--config", a->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  add->add_option("--id", a->id, "Reviewer id = token name")->required();
  add->add_option("--name", a->name, "Display name (default: the id)");
  add->add_option("--roles", a->roles, "Comma separated roles / pools, e.g. reviewer,senior,adjudicator")->capture_default_str();
  add->add_option("--domains", a->domains, "Comma separated domains (default: every domain)");
  add->add_option("--skills", a->skills, "Comma separated skills");
  add->add_option("--capacity", a->capacity, "Tasks held at once")->capture_default_str()->check(CLI::Range(1, 10000));
  add->add_option("--cost-per-hour", a->cost, "Cost of an hour of their review work")->check(CLI::NonNegativeNumber);
  add->callback([a] {
    const std::string command = "hitl reviewer add";
    auto cs = open_or_fail(command, a->config);
    for (auto& d : service::split_list(a->domains))
      if (!cs->cfg.domains.count(d)) fail(command + ": --domains: no domain named \"" + d + "\" in " + cs->cfg.file.string());
    auto dir = directory_on(*cs->storage);
    sdk::ReviewerRecord r;
    r.id = a->id;
    r.name = a->name;
    r.roles = a->roles;
    r.domains = a->domains;
    r.skills = a->skills;
    r.capacity = a->capacity;
    r.cost_per_hour = a->cost;
    try {
      auto saved = dir.put(r, cli_actor());
      std::cout << "reviewer " << saved.id << ": roles " << saved.roles << ", domains "
                << (saved.domains.empty() ? "(all)" : saved.domains) << ", skills "
                << (saved.skills.empty() ? "(none)" : saved.skills) << ", capacity " << saved.capacity << "\n";
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
  });
}

void reviewer_list_command(CLI::App& cmd) {
  auto lo = std::make_shared<std::string>();
  auto* list = cmd.add_subcommand("list", "List reviewers with their current load");
  list->add_option("--config", *lo, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  list->callback([lo] {
    const std::string command = "hitl reviewer list";
    auto cs = open_or_fail(command, *lo);
    auto dir = directory_on(*cs->storage);
    std::vector<sdk::ReviewerRecord> all;
    try {
      all = dir.list();
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
    std::cout << std::left << std::setw(16) << "id" << std::setw(24) << "roles" << std::setw(20) << "domains"
              << std::setw(20) << "skills" << std::setw(10) << "capacity" << std::setw(10) << "cost/h"
              << "state\n";
    for (auto& r : all)
      std::cout << std::left << std::setw(16) << r.id << std::setw(24) << r.roles << std::setw(20)
                << (r.domains.empty() ? "(all)" : r.domains) << std::setw(20) << (r.skills.empty() ? "-" : r.skills)
                << std::setw(10) << r.capacity << std::setw(10) << r.cost_per_hour
                << (r.disabled ? "disabled" : "active") << "\n";
    if (all.empty()) std::cout << "(no reviewers registered; reviewer tokens work without limits)\n";
  });
}

// disable or enable: one subcommand each.
void reviewer_disable_command(CLI::App& cmd, bool disable) {
  struct O { std::string config, id; };
  auto o = std::make_shared<O>();
  auto* sub = cmd.add_subcommand(disable ? "disable" : "enable",
                                 disable ? "Stop handing tasks to a reviewer" : "Hand tasks to a reviewer again");
  sub->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  sub->add_option("--id", o->id, "Reviewer id")->required();
  sub->callback([o, disable] {
    const std::string command = std::string("hitl reviewer ") + (disable ? "disable" : "enable");
    auto cs = open_or_fail(command, o->config);
    auto dir = directory_on(*cs->storage);
    try {
      dir.set_disabled(o->id, disable, cli_actor());
      std::cout << "reviewer " << o->id << ": " << (disable ? "disabled" : "enabled") << "\n";
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
  });
}

}  // namespace

void add_reviewer(CLI::App& root) {
  auto* cmd = root.add_subcommand("reviewer", "Manage the reviewer registry (skills, pools, capacity, cost)");
  cmd->require_subcommand(1);
  reviewer_add_command(*cmd);
  reviewer_list_command(*cmd);
  for (bool disable : {true, false}) reviewer_disable_command(*cmd, disable);
}

}  // namespace hitl::cli
