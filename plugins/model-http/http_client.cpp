// model-http: synchronous Beast client with per-attempt deadline and keep-alive pooling.
//
// Each pooled connection owns its io_context; an attempt runs that context on the calling
// thread with run_until(deadline), so one deadline covers resolve + connect + write + read and
// no background thread is needed. On expiry the socket is closed, which cancels the pending op.
#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

namespace hitl::model_http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using sdk::Code;
using sdk::Status;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxIdleConnections = 8;    // more concurrent calls open more, then close them
constexpr std::uint64_t kMaxResponseBytes = 64u << 20;

struct Connection {
  net::io_context ioc{1};
  tcp::socket socket{ioc};  // declared after ioc: destroyed (closed) first
  beast::flat_buffer buffer;

  void reset() {
    beast::error_code ignored;
    socket.close(ignored);
    buffer.clear();
  }
};

// Starts one async operation via `start(done)` and runs the connection's context until it
// finishes or the deadline passes; on expiry closes the socket and returns timed_out.
template <class Start>
beast::error_code run_until(Connection& c, Clock::time_point deadline, Start&& start, tcp::resolver* resolver = nullptr) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  c.ioc.restart();
  c.ioc.run_until(deadline);
  if (result) return *result;
  if (resolver) resolver->cancel();
  beast::error_code ignored;
  c.socket.close(ignored);
  c.ioc.restart();
  c.ioc.run();  // the cancelled handler must run before `result` goes out of scope
  return net::error::timed_out;
}

// A keep-alive connection the server closed while idle fails like this on its next use,
// before any byte of a reply arrived; such a failure is retried at once on a new connection.
bool stale_connection_error(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::connection_aborted;
}

}  // namespace

struct HttpClient::Impl {
  explicit Impl(const Config& c) : config(c) {}
  const Config& config;
  std::mutex mu;
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by mu
  std::atomic<std::size_t> opened{0};

  std::unique_ptr<Connection> acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    return std::make_unique<Connection>();
  }

  void release(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(c));
  }

  // Returns the failed step ("connect", "send", "read") in `step` when ec is set.
  beast::error_code connect(Connection& c, Clock::time_point deadline, const char*& step) {
    step = "resolve";
    tcp::resolver resolver(c.ioc);
    tcp::resolver::results_type endpoints;
    auto ec = run_until(
        c, deadline,
        [&](auto done) {
          resolver.async_resolve(config.endpoint.host, config.endpoint.port,
                                 [&endpoints, done](beast::error_code e, tcp::resolver::results_type r) mutable {
                                   endpoints = std::move(r);
                                   done(e);
                                 });
        },
        &resolver);
    if (ec) return ec;
    step = "connect";
    ec = run_until(c, deadline, [&](auto done) { net::async_connect(c.socket, endpoints, done); });
    if (ec) return ec;
    opened.fetch_add(1, std::memory_order_relaxed);
    beast::error_code ignored;
    c.socket.set_option(tcp::no_delay(true), ignored);
    return {};
  }

  beast::error_code exchange(Connection& c, bhttp::request<bhttp::string_body>& req, Clock::time_point deadline,
                             HttpReply& out, bool& keep_alive, const char*& step) {
    step = "send";
    auto ec = run_until(c, deadline, [&](auto done) { bhttp::async_write(c.socket, req, done); });
    if (ec) return ec;
    step = "read";
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    ec = run_until(c, deadline, [&](auto done) { bhttp::async_read(c.socket, c.buffer, parser, done); });
    if (ec) return ec;
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    keep_alive = res.keep_alive();
    return {};
  }
};

HttpClient::HttpClient(const Config& config) : impl_(std::make_unique<Impl>(config)) {}
HttpClient::~HttpClient() = default;

std::size_t HttpClient::connections_opened() const noexcept { return impl_->opened.load(); }

Status HttpClient::post(const std::string& body, HttpReply& out) noexcept {
  const Config& cfg = impl_->config;
  auto fail = [&](const char* step, const beast::error_code& ec) {
    std::string what = ec == net::error::timed_out
                           ? "timed out after " + std::to_string(cfg.timeout_ms) + " ms (during " + step + ")"
                           : std::string(step) + ": " + ec.message();
    return Status::Error(Code::unavailable, "model-http: POST " + cfg.endpoint.display + ": " + what);
  };
  try {
    const auto deadline = Clock::now() + std::chrono::milliseconds(cfg.timeout_ms);
    bhttp::request<bhttp::string_body> req(bhttp::verb::post, cfg.endpoint.target, 11);
    req.set(bhttp::field::host, cfg.endpoint.host_header);
    req.set(bhttp::field::user_agent, "hitl-model-http/1.0");
    req.set(bhttp::field::accept, "application/json");
    for (const auto& [name, value] : cfg.headers) req.set(name, value);
    req.set(bhttp::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();

    auto conn = impl_->acquire();
    for (int pass = 0;; ++pass) {
      const bool reused = conn->socket.is_open();
      const char* step = "connect";
      beast::error_code ec;
      if (!reused) ec = impl_->connect(*conn, deadline, step);
      bool keep_alive = false;
      if (!ec) ec = impl_->exchange(*conn, req, deadline, out, keep_alive, step);
      if (!ec) {
        if (keep_alive) impl_->release(std::move(conn));
        return Status::Ok();
      }
      conn->reset();
      if (!(reused && pass == 0 && stale_connection_error(ec))) return fail(step, ec);
      // The server had closed this idle connection: reconnect once, within the same deadline.
    }
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string("model-http: POST ") + cfg.endpoint.display + ": " + e.what());
  }
}

}  // namespace hitl::model_http
