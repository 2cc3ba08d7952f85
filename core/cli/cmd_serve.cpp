// hitl serve: the HTTP service.
#include "audit/audit_chain.hpp"
#include "audit/audit_record.hpp"
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "policy/policy_engine.hpp"
#include "governance/governance.hpp"
#include "http/server.hpp"
#include "api/api.hpp"
#include "app/app.hpp"
#include "learning/retrain_worker.hpp"
#include "notify/notify.hpp"
#include "review/review.hpp"
#include "metrics/metrics.hpp"
#include "app/slow_lane.hpp"
#include "api/ui_assets.hpp"

#include <CLI/CLI.hpp>
#include <fstream>
#include <sstream>
#include <spdlog/spdlog.h>

#include <charconv>
#include <csignal>
#include <cstring>
#include <tuple>
#include <iostream>
#include <functional>
#include <thread>
#include <vector>

namespace hitl::cli {

namespace {

// Descriptors kept free for what is not a connection: the database and its journal, plugins,
// log files, webhook sockets, model registry reads, and the listening socket.
constexpr std::uint64_t kReservedFds = 128;

// Raises the soft fd limit to the hard one and returns the connection cap that fits under it:
// past the limit accept() fails (EMFILE) and even /healthz goes unanswered.
int fitted_max_connections(int wanted) {
  const auto fd = http::raise_fd_limit();
  spdlog::info("open file limit: soft {} -> {}, hard {}", fd.soft_before, fd.soft, fd.hard);
  if (fd.soft == 0) return wanted;  // unknown: keep the configured cap
  // +1: at the cap a connection is accepted to be refused (503) or to replace a reclaimed one.
  const std::uint64_t room = fd.soft > kReservedFds + 1 ? fd.soft - kReservedFds - 1 : 1;
  if (static_cast<std::uint64_t>(wanted) <= room) return wanted;
  spdlog::warn("max_connections {} does not fit the open file limit {} ({} kept for storage, plugins and logs): "
               "using {}; raise the hard limit (ulimit -Hn, LimitNOFILE=) to allow more",
               wanted, fd.soft, kReservedFds, room);
  return static_cast<int>(room);
}

struct ServeOptions {
  std::string config;
  std::string listen;
};

// The start in the audit trail: what changed since the last one (config, policies).
void record_start(service::App& app) {
  std::ifstream in(app.config().file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, std::string> policies;
  for (auto& [name, _] : app.config().domains) policies[name] = app.policies().policy_hash(name);
  for (auto& change : app.governance().record_start(app.config().file.string(), sha256_hex(text.str()), policies))
    spdlog::info("changed since the last start: {}", change);
}

http::ServerOptions server_options(service::App& app) {
  http::ServerOptions so;
  so.host = app.config().listen_host;
  so.port = app.config().listen_port;
  so.threads = app.config().http_threads;
  so.max_body_bytes = app.config().max_body_bytes;
  so.max_connections = fitted_max_connections(app.config().max_connections);
  so.header_timeout_seconds = app.config().header_timeout_seconds;
  so.idle_timeout_seconds = app.config().idle_timeout_seconds;
  so.on_event = [&metrics = app.metrics()](http::TransportEvent e) {
    metrics.transport_events[static_cast<std::size_t>(e)]++;
    // The refusals are answered with an error status: they count as HTTP errors too.
    if (e == http::TransportEvent::bad_request || e == http::TransportEvent::payload_too_large ||
        e == http::TransportEvent::header_too_large || e == http::TransportEvent::too_many_connections)
      metrics.http_errors++;
  };
  return so;
}

// A job of the housekeeping thread: run every `every_ms`; `run` returns true when it has more
// to do at once (a burst), so it runs again at the next tick.
struct PeriodicJob {
  const char* name;
  std::int64_t every_ms;
  std::int64_t next_ms;
  std::function<bool()> run;
};

void erase_expired_payloads(service::App& app, std::int64_t now) {
  for (auto& [name, d] : app.config().domains) {
    if (d.retention_days <= 0) continue;
    try {
      app.governance().erase_older_than(name, now - d.retention_days * 86'400'000, audit::kSystemActor,
                                        "retention: older than " + std::to_string(d.retention_days) + " days");
    } catch (const std::exception& e) {
      spdlog::warn("retention domain={}: {}", name, e.what());
    }
  }
}

// Housekeeping on its own thread: lease expiry once a second, model reloads every 2 s (a promoted
// artifact is live within about 2 s, without a restart), SLA states and escalations every 5 s
// (they change on a scale of minutes), the audit chain head every audit.head_log_seconds (an
// operator ships these lines elsewhere to anchor the chain), payload retention once a minute.
void run_housekeeping(service::App& app, const std::atomic<bool>& stopping) {
  const std::int64_t start = now_ms();
  const std::int64_t head_every_ms = app.config().audit_head_log_seconds * 1000;
  std::vector<PeriodicJob> jobs = {
      {"lease expiry", 1000, start, [&] { app.review().expire_leases(); return false; }},
      {"model reload", 2000, start + 2000, [&] { app.reload_models(); return false; }},
      // A burst (more due than one call handles) goes on at the next tick, after lease expiry.
      {"sla check", 5000, start, [&] { return app.review().check_slas() >= service::ReviewService::kSlaEventsPerCheck; }},
      {"audit chain head", head_every_ms, start + head_every_ms, [&] {
         const auto h = audit::chain_head(app.storage());
         spdlog::info("audit chain head seq {} hash {}", h.seq, h.hash);
         return false;
       }},
      {"retention", 60'000, start, [&] { erase_expired_payloads(app, now_ms()); return false; }},
  };
  while (!stopping) {
    for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto& job : jobs) {
      const std::int64_t now = now_ms();
      if (now < job.next_ms) continue;
      job.next_ms = now + job.every_ms;
      try {
        if (job.run()) job.next_ms = now;
      } catch (const std::exception& e) {
        spdlog::warn("{}: {}", job.name, e.what());
      }
    }
  }
}

int serve(const ServeOptions& o) {
  auto cfg = load(o.config);
  if (!o.listen.empty()) {
    try {
      std::tie(cfg.listen_host, cfg.listen_port) = config::parse_listen(o.listen);
    } catch (const config::ConfigError& e) {
      throw std::runtime_error(std::string("--listen: ") + e.what());
    }
  }
  setup_logging(cfg.log_level, cfg.log_format);

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  service::App app(std::move(cfg));
  // Keep this line somewhere else too: a chain rewritten or truncated from some record on is only
  // visible against a head recorded before (see "Audit log" in docs/operations.md).
  const auto head = audit::chain_head(app.storage());
  spdlog::info("audit chain head seq {} hash {}", head.seq, head.hash);
  record_start(app);
  // Bounded by the claims held, not by the backlog: the queue's leases agree with storage before
  // the first claim. Re-queueing every open task waits for the background thread below.
  app.review().reconcile_leases();

  const http::ServerOptions so = server_options(app);
  // Slow routes run there (app/slow_lane.hpp); stopped before the server so queued ones are
  // answered 503 shutting_down while connections are still open.
  struct StopSlowLane {
    service::SlowLane& l;
    ~StopSlowLane() { l.stop(); }
  } stop_slow_lane{app.slow_lane()};
  app.slow_lane().start();
  // The web UI under /ui/ (docs/ui.md), read into memory now; every reply gets the security headers.
  const auto ui_assets = ui::Assets::load(default_ui_dir());
  spdlog::info("web UI: {} files, {} bytes from {}", ui_assets->size(), ui_assets->bytes(), ui_assets->dir().string());
  http::Server server(so, ui::with_ui(ui_assets, make_api_handler(app)));
  // Long-poll deadlines and webhook deliveries (resumes the ones left pending); stopped before the
  // server so waiting requests get their answer (the guard covers an early exit).
  struct StopNotifier {
    service::Notifier& n;
    ~StopNotifier() { n.stop(); }
  } stop_notifier{app.notifier()};
  app.notifier().start();
  // Trainings the policy's retrain(stats) or an admin asks for run on the worker's own thread.
  struct StopRetrain {
    service::RetrainWorker& w;
    ~StopRetrain() { w.stop(); }
  } stop_retrain{app.retrain()};
  app.retrain().start();
  server.start();
  std::string domains;
  for (auto& [name, _] : app.config().domains) domains += (domains.empty() ? "" : ", ") + name;
  spdlog::info("hitl listening on http://{}:{} (domains: {})", so.host, server.port(), domains);
  std::cout << "hitl listening on http://" << so.host << ":" << server.port() << std::endl;

  std::atomic<bool> stopping{false};
  // Open tasks back into the queue (if it lost any) and their SLA moments scheduled, a page at a
  // time while the service answers: start-up does no work proportional to the backlog.
  std::thread requeue([&] {
    try {
      const auto started = now_ms();
      const std::size_t n = app.review().requeue_open_tasks(stopping);
      spdlog::info("requeued {} open review tasks in {} ms", n, now_ms() - started);
    } catch (const std::exception& e) {
      spdlog::error("requeue of open tasks stopped: {} (they are re-queued at the next start)", e.what());
    }
  });
  std::thread expiry([&] { run_housekeeping(app, stopping); });

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {} received: stopping", sig);
  stopping = true;
  app.policies().interrupt();  // a policy call in progress must not hold a thread past the stop
  requeue.join();
  expiry.join();
  app.retrain().stop();
  app.notifier().stop();
  app.slow_lane().stop();
  server.stop();
  return 0;
}
}  // namespace

void add_serve(CLI::App& root) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the HTTP service (stops on SIGINT/SIGTERM)");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (overrides the config; port 0 picks one)");
  cmd->callback([o] {
    int rc = serve(*o);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace hitl::cli
