// hitl serve: the HTTP service.
#include "api/api.hpp"
#include "api/ui_assets.hpp"
#include "app/app.hpp"
#include "app/housekeeping.hpp"
#include "app/policy_reloader.hpp"
#include "app/startup.hpp"
#include "cli/common.hpp"
#include "domain/domains.hpp"
#include "http/server.hpp"
#include "metrics/metrics.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <tuple>

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

// SIGINT, SIGTERM and SIGHUP, blocked in every thread so that only wait_for_stop_signal receives
// them. Call before any thread starts (threads inherit the mask).
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Until SIGINT or SIGTERM; each SIGHUP reloads the domains' policies (app/policy_reloader.hpp).
void wait_for_stop_signal(const sigset_t& signals, service::App& app) {
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    spdlog::info("SIGHUP received: reloading the policies");
    app.policy_reloader().reload_all(service::ReloadTrigger::signal);
  }
  spdlog::info("signal {} received: stopping", sig);
}

void apply_options(const ServeOptions& o, config::ServiceConfig& cfg) {
  if (o.listen.empty()) return;
  try {
    std::tie(cfg.listen_host, cfg.listen_port) = config::parse_listen(o.listen);
  } catch (const config::ConfigError& e) {
    throw std::runtime_error(std::string("--listen: ") + e.what());
  }
}

// Start-up recovery, the background work (app/startup.hpp, app/housekeeping.hpp) and the HTTP
// server until SIGINT or SIGTERM; the background stops before the server, so waiting and queued
// requests still get their answer.
int serve(const ServeOptions& o) {
  auto [cfg, plugins] = load_with_plugins(o.config);
  apply_options(o, cfg);
  setup_logging(cfg.log_level, cfg.log_format);
  const sigset_t signals = block_stop_signals();

  service::App app(std::move(cfg), std::move(plugins));
  service::recover_at_start(app);
  const http::ServerOptions so = server_options(app);
  // The web UI under /ui/ (docs/ui.md), read into memory now; every reply gets the security headers.
  const auto ui_assets = ui::Assets::load(default_ui_dir());
  spdlog::info("web UI: {} files, {} bytes from {}", ui_assets->size(), ui_assets->bytes(), ui_assets->dir().string());
  http::Server server(so, ui::with_ui(ui_assets, make_api_handler(app)));
  service::Background background(app);  // declared after the server: stopped before it, even on an error
  background.start();
  server.start();
  std::string domains;
  for (auto& name : app.domains().names()) domains += (domains.empty() ? "" : ", ") + name;
  spdlog::info("hitl listening on http://{}:{} (domains: {})", so.host, server.port(), domains);
  std::cout << "hitl listening on http://" << so.host << ":" << server.port() << std::endl;

  wait_for_stop_signal(signals, app);
  background.stop();
  server.stop();
  return 0;
}
}  // namespace

void add_serve(CLI::App& root) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the HTTP service (stops on SIGINT/SIGTERM; SIGHUP reloads the policies)");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (overrides the config; port 0 picks one)");
  cmd->callback([o] {
    int rc = serve(*o);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace hitl::cli
