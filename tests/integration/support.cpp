// Test support for the end-to-end tests: the server runs as a real child process, exactly as
// an operator starts it, and is driven over loopback HTTP.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#if HITL_TEST_WITH_POSTGRES
#include "support/postgres.hpp"
#endif

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hitl::test {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;

RunResult run_hitl(const std::string& args, const std::string& env) {
  std::string cmd = (env.empty() ? "" : env + " ") + std::string(HITL_EXE) + " " + args + " 2>&1";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

nlohmann::json HttpResponse::json() const { return nlohmann::json::parse(body); }

struct HttpClient::Impl {
  asio::io_context io;
  beast::tcp_stream stream{io};
  int port;
  bool connected = false;

  void connect() {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(ep);
    connected = true;
  }
};

HttpClient::HttpClient(int port) : impl_(std::make_unique<Impl>()) { impl_->port = port; }
HttpClient::~HttpClient() {
  beast::error_code ec;
  impl_->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target, const std::string& token,
                                 const std::string& body, const std::string& content_type) {
  // A server may close a keep-alive connection (e.g. after a 413); reconnect once then.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->connected) impl_->connect();
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.keep_alive(true);
    if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
    if (!body.empty() || method == "POST") {
      req.set(bhttp::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
    }
    beast::error_code ec;
    impl_->stream.expires_after(std::chrono::seconds(60));
    bhttp::write(impl_->stream, req, ec);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    if (!ec) bhttp::read(impl_->stream, buffer, parser, ec);
    if (ec) {
      impl_->stream.socket().close(ec);
      impl_->connected = false;
      if (attempt == 0) continue;
      throw std::runtime_error("HTTP " + method + " " + target + ": " + ec.message());
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    out.content_type = std::string(res[bhttp::field::content_type]);
    if (!res.keep_alive()) {
      impl_->stream.socket().close(ec);
      impl_->connected = false;
    }
    return out;
  }
  throw std::runtime_error("unreachable");
}

namespace {
std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The token is the line `hitl token create` prints; anything else it printed is context.
std::string create_token(const fs::path& config, const std::string& role, const std::string& name,
                         const std::string& domains) {
  std::string args = "token create --config " + config.string() + " --role " + role + " --name " + name;
  if (!domains.empty()) args += " --domains " + domains;
  auto r = run_hitl(args);
  std::smatch m;
  static const std::regex token_re("hitl_[0-9a-f]{48}");
  if (r.exit_code != 0 || !std::regex_search(r.out, m, token_re))
    throw std::runtime_error("token create failed (" + std::to_string(r.exit_code) + "): " + r.out);
  return m.str();
}
}  // namespace

// Domains of the test service:
//  loans        clients send predictions; auto when confidence >= 0.9, reject when
//               input.amount < 0, review otherwise; priority rises with the amount.
//  credit_risk  the example: the model scores the input, the example policy decides.
//  broken       the policy raises an error on every call (fails closed).
//  looping      the policy never returns (instruction budget, fails closed).
//  flaky        its model fails every predict (fails closed: model_error).
//  shortm       its model returns too few predictions (fails closed: model_error).
//  governed     sensitive fields (name, meta.email), bias by input.segment, costs, an sla() hook.
Service::Service(const std::string& extra_domains, const std::string& extra_models) {
  const std::string src = HITL_SOURCE_DIR;
  db = dir.path / "hitl.db";
  dir.write("loans.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p)
    if (p.input.amount or 0) < 0 then return hitl.reject("negative_amount") end
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    return hitl.review("low_confidence")
  end,
  priority = function(task)
    return math.min(1, (task.input.amount or 0) / 100000)
  end,
}
)");
  dir.write("broken.lua", R"(
return { flag = function(p) error("boom: no rule for " .. p.domain) end }
)");
  // A governed domain: sensitive fields, a segment for the bias metrics, costs, an SLA hook, and
  // a rule that quotes a sensitive value in its error (which must not reach the trail or logs).
  dir.write("governed.lua", R"(
local hitl = require "hitl"
return {
  version = "g-1",
  flag = function(p)
    if p.input.explode then error("cannot score applicant " .. p.input.name) end
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    if (p.input.amount or 0) > 1000 then return hitl.review("high_amount") end
    return hitl.review("low_confidence")
  end,
  priority = function(task) return math.min(1, (task.input.amount or 0) / 2000) end,
  sla = function(task)
    if (task.input.amount or 0) > 1000 then return 3600 end
    return nil
  end,
}
)");
  dir.write("looping.lua", R"(
return { flag = function(p) while true do end end }
)");
  fs::copy_file(src + "/examples/credit_risk/model/credit_logreg.json", dir.path / "credit_copy.json");
  // The example policy retrains and promotes on its own once enough outcomes are in: its model
  // loads a copy too, so no test can ever write over the artifact in the source tree.
  fs::copy_file(src + "/examples/credit_risk/model/credit_logreg.json", dir.path / "credit_source.json");
  // With its training statistics (p.ood); credit_copy has none.
  fs::copy_file(src + "/examples/credit_risk/model/credit_logreg.json.features.json",
                dir.path / "credit_source.json.features.json");
  // The backend: one SQLite file, or (HITL_TEST_BACKEND=postgres) a fresh database on the
  // throw-away PostgreSQL server, named through env() as docs/deploy.md shows.
  std::string backend = R"(
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  queue   = { plugin = "sqlite", config = { path = "hitl.db" } },)";
#if HITL_TEST_WITH_POSTGRES
  if (pg::backend_is_postgres()) {
    pg_url_ = pg::database_for_folder(dir.path.string());
    ::setenv("HITL_PG_URL", pg_url_.c_str(), 1);  // the children inherit it
    backend = R"(
  storage = { plugin = "postgres", config = { url = env("HITL_PG_URL") } },
  queue   = { plugin = "postgres", config = { url = env("HITL_PG_URL") } },)";
  }
#endif
  config = dir.write("hitl.lua", R"(
return {
  listen = "127.0.0.1:0",)" + backend + R"(
  max_body_bytes = 1048576,
  plugin_dirs = { ")" + std::string(HITL_PLUGIN_DIR) + R"(", ")" + std::string(HITL_FIXTURE_MODEL_DIR) + R"(" },
  policy = { instruction_budget = 200000 },
  models = {
    down = { plugin = "fixture-failing", config = { mode = "error" } },
    short = { plugin = "fixture-failing", config = { mode = "short" } },
    credit = { plugin = "logreg", config = { artifact = "credit_source.json" } },
    -- A copy in the temp dir, for tests that promote over the artifact.
    credit_copy = { plugin = "logreg", config = { artifact = "credit_copy.json" } },
)" + extra_models + R"(
  },
  domains = {
    loans = { policy = "loans.lua", labels = { "good", "bad" }, lease_seconds = 60 },
    credit_risk = { policy = ")" + src + R"(/examples/credit_risk/policy.lua", model = "credit", labels = { "good", "bad" } },
    broken = { policy = "broken.lua", labels = { "yes", "no" } },
    flaky = { policy = "loans.lua", model = "down", labels = { "good", "bad" } },
    shortm = { policy = "loans.lua", model = "short", labels = { "good", "bad" } },
    looping = { policy = "looping.lua", labels = { "yes", "no" } },
    governed = { policy = "governed.lua", labels = { "good", "bad" }, sensitive = { "name", "meta.email" },
                 report = { group = "segment" }, cost = { reviewer_per_hour = 36, per_prediction = 0.01 },
                 sla_seconds = 600 },
)" + extra_domains + R"(
  },
}
)");
  admin = create_token(config, "admin", "root", "");
  reviewer = create_token(config, "reviewer", "alice", "loans,credit_risk,broken,looping,governed");
  reviewer2 = create_token(config, "reviewer", "bob", "loans,credit_risk");
  other_reviewer = create_token(config, "reviewer", "carol", "credit_risk");
  client = create_token(config, "client", "app", "");
}

Service::~Service() { stop(); }

void replace_in_config(Service& s, const std::string& from, const std::string& to) {
  std::ifstream in(s.config);
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  const auto at = config.find(from);
  if (at == std::string::npos) throw std::runtime_error("replace_in_config: the config has no '" + from + "'");
  config.replace(at, from.size(), to);
  std::ofstream(s.config, std::ios::trunc) << config;
}

void set_top_level(Service& s, const std::string& settings) {
  const std::string anchor = "max_body_bytes = 1048576,";
  replace_in_config(s, anchor, anchor + "\n  " + settings);
}

std::vector<std::vector<std::string>> Service::sql_rows(const std::string& sql) const {
  std::vector<std::vector<std::string>> rows;
#if HITL_TEST_WITH_POSTGRES
  if (!pg_url_.empty()) {
    pqxx::connection c(pg_url_);
    pqxx::nontransaction tx(c);
    for (const auto& r : tx.exec(sql)) {
      rows.emplace_back();
      for (const auto& f : r) rows.back().emplace_back(f.c_str(), f.size());
    }
    return rows;
  }
#endif
  SQLite::Database raw(db.string(), SQLite::OPEN_READONLY);
  raw.setBusyTimeout(5000);  // the service may be writing
  SQLite::Statement q(raw, sql);
  while (q.executeStep()) {
    rows.emplace_back();
    for (int i = 0; i < q.getColumnCount(); ++i) rows.back().push_back(q.getColumn(i).getString());
  }
  return rows;
}

std::string Service::token(const std::string& role, const std::string& name, const std::string& domains) const {
  return create_token(config, role, name, domains);
}

bool Service::running() const { return child_running(pid_); }

namespace {
// `hitl serve --config config` as a child writing to `out` (stdout) and `log` (stderr); returns
// once it prints its address (the port it listens on), throws when it exits or stays silent.
int spawn_serve(const fs::path& config, const fs::path& out, const fs::path& log, long long clock_offset_ms, int& pid_out) {
  fs::remove(out);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (clock_offset_ms) ::setenv("HITL_CLOCK_OFFSET_MS", std::to_string(clock_offset_ms).c_str(), 1);
    ::execl(HITL_EXE, HITL_EXE, "serve", "--config", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_out = pid;
  static const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = read_file(out);
    std::smatch m;
    if (std::regex_search(text, m, listening)) return std::stoi(m[1].str());
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) != 0) {
      pid_out = -1;
      throw std::runtime_error("hitl serve exited during start-up:\n" + read_file(log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop_child(pid_out);
  throw std::runtime_error("hitl serve did not print its address within 60 s:\n" + read_file(log));
}
}  // namespace

void kill_child(int& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
}

void stop_child(int& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300; ++i) {  // up to 15 s for a graceful stop
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill_child(pid);
}

bool child_running(int pid) {
  if (pid <= 0) return false;
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

void Service::start(long long clock_offset_ms) {
  if (pid_ > 0) throw std::runtime_error("service already started");
  port_ = spawn_serve(config, dir.path / "serve.out", dir.path / "serve.log", clock_offset_ms, pid_);
}

std::string Service::log() const { return read_file(dir.path / "serve.log"); }
void Service::kill_hard() { kill_child(pid_); }
void Service::stop() { stop_child(pid_); }

void Instance::start() {
  if (pid_ > 0) throw std::runtime_error("instance already started");
  const std::string name = "serve-" + std::to_string(n_);
  port_ = spawn_serve(s_.config, s_.dir.path / (name + ".out"), s_.dir.path / (name + ".log"), 0, pid_);
}

std::string Instance::log() const { return read_file(s_.dir.path / ("serve-" + std::to_string(n_) + ".log")); }

}  // namespace hitl::test
