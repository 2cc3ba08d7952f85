#pragma once
// Test support: running the CLI, a `hitl serve` child process, an HTTP client (the temp folder
// is tests/support/temp_dir.hpp).
#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace hitl::test {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
// Runs the hitl binary with `args` (shell-quoted by the caller where needed).
// `env` is prepended to the command line, e.g. "NAME=value".
RunResult run_hitl(const std::string& args, const std::string& env = "");

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  nlohmann::json json() const;
};

class HttpClient {  // one keep-alive connection
 public:
  explicit HttpClient(int port);
  ~HttpClient();
  HttpResponse request(const std::string& method, const std::string& target, const std::string& token,
                       const std::string& body = "", const std::string& content_type = "application/json");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A child process: SIGTERM then up to 15 s for a graceful stop (else SIGKILL); SIGKILL at once
// (what a power cut or the OOM killer does); whether it still runs. `pid` becomes -1 once reaped.
void stop_child(int& pid);
void kill_child(int& pid);
bool child_running(int pid);

// A test domain setup: config + policies in a temp dir, tokens, and the server process.
class Service {
 public:
  // Writes the files and creates the tokens. `extra_domains` (Lua table entries, e.g.
  // `hooked = { policy = "loans.lua", ... },`) is appended to the config's domains table,
  // `extra_models` (e.g. `const = { plugin = "fixture-good" },`) to its models table.
  explicit Service(const std::string& extra_domains = "", const std::string& extra_models = "");
  ~Service();  // stops the server
  void start(long long clock_offset_ms = 0);  // HITL_CLOCK_OFFSET_MS for the child
  void stop();
  // SIGKILL, no grace: what a power cut or the OOM killer does (durability tests).
  void kill_hard();
  int pid() const { return pid_; }
  int port() const { return port_; }
  bool running() const;
  std::string log() const;  // the server's stderr so far
  TempDir dir;
  std::filesystem::path config;
  std::filesystem::path db;
  std::string admin, reviewer, reviewer2, client, other_reviewer;
  // Every row of `sql` (a test's own text, no parameters) read from outside the service, on its
  // backend (the SQLite file or the PostgreSQL database), each column as text.
  std::vector<std::vector<std::string>> sql_rows(const std::string& sql) const;
  // Runs `hitl token create` against this service's config and returns the token.
  std::string token(const std::string& role, const std::string& name, const std::string& domains = "") const;

 private:
  int pid_ = -1;
  int port_ = 0;
  std::string pg_url_;  // the service's PostgreSQL database ("" = the SQLite file `db`)
};

// Rewrites the Service's config (before start) with `from`, which must be in it, replaced by `to`.
void replace_in_config(Service& s, const std::string& from, const std::string& to);
// Rewrites the Service's config with extra top-level settings, e.g. "max_connections = 16,".
void set_top_level(Service& s, const std::string& settings);

// One more `hitl serve` of a Service's config, so on its database: several instances behind a
// load balancer (docs/deploy.md, "Several instances"); PostgreSQL only. Its output goes to
// serve-<n>.out and serve-<n>.log in the Service's folder.
class Instance {
 public:
  Instance(const Service& s, int n) : s_(s), n_(n) {}
  ~Instance() { stop(); }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  void start();
  void stop() { stop_child(pid_); }
  void kill_hard() { kill_child(pid_); }
  bool running() const { return child_running(pid_); }
  int port() const { return port_; }
  std::string log() const;

 private:
  const Service& s_;
  int n_;
  int pid_ = -1;
  int port_ = 0;
};

}  // namespace hitl::test
