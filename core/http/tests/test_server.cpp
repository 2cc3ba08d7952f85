// hitl::http::Server over real loopback sockets, driven by a synchronous Beast client.
#include "http/server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using hitl::http::Request;
using hitl::http::Respond;
using hitl::http::Response;
using hitl::http::Server;
using hitl::http::ServerOptions;
using hitl::http::TransportEvent;

namespace {

using ClientResponse = bhttp::response<bhttp::string_body>;

// One keep-alive connection to the server under test.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  ClientResponse request(bhttp::verb verb, const std::string& target, const std::string& body = {},
                         const std::vector<std::pair<std::string, std::string>>& headers = {}, unsigned version = 11) {
    send(verb, target, body, headers, version);
    return read();
  }

  void send(bhttp::verb verb, const std::string& target, const std::string& body = {},
            const std::vector<std::pair<std::string, std::string>>& headers = {}, unsigned version = 11) {
    bhttp::request<bhttp::string_body> req(verb, target, version);
    req.set(bhttp::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (!body.empty() || verb == bhttp::verb::post) req.prepare_payload();
    bhttp::write(socket_, req);
  }

  void send_raw(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }

  ClientResponse read() {
    ClientResponse res;
    bhttp::read(socket_, buffer_, res);
    return res;
  }

  // True when the server has closed the connection (EOF or reset on the next read).
  bool closed_by_server() {
    beast::error_code ec;
    ClientResponse res;
    bhttp::read(socket_, buffer_, res, ec);
    return ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset;
  }

  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

ServerOptions loopback(std::size_t max_body = 1 << 20) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.max_body_bytes = max_body;
  return o;
}

Response text(std::string body, int status = 200) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = "text/plain";
  return r;
}

// Answers Respond callbacks on its own thread, after an optional delay: a stand-in for the
// group-commit writer that replies after the transaction commits.
class LaterResponder {
 public:
  LaterResponder() : thread_([this] { loop(); }) {}
  ~LaterResponder() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void push(Respond respond, Response r, std::chrono::milliseconds delay = {}) {
    {
      std::lock_guard lock(m_);
      jobs_.push_back({std::move(respond), std::move(r), delay});
    }
    cv_.notify_all();
  }

 private:
  struct Job {
    Respond respond;
    Response response;
    std::chrono::milliseconds delay;
  };
  void loop() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      if (job.delay.count()) std::this_thread::sleep_for(job.delay);
      job.respond(std::move(job.response));
      lock.lock();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

// Counts the transport's TransportEvents (ServerOptions::on_event) across its I/O threads.
class EventCounts {
 public:
  std::function<void(TransportEvent)> callback() {
    return [this](TransportEvent e) { counts_[static_cast<std::size_t>(e)]++; };
  }
  int count(TransportEvent e) const { return counts_[static_cast<std::size_t>(e)].load(); }
  // The count once it reaches `n` or a second passed: a client can see the close (a timed-out
  // stream closes its socket) before the server's handler reports the event.
  int settled(TransportEvent e, int n) const {
    for (int i = 0; i < 200 && count(e) < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return count(e);
  }

 private:
  std::array<std::atomic<int>, hitl::http::kTransportEventCount> counts_{};
};

}  // namespace

TEST_CASE("GET decodes path query and headers and the reply carries Server and Content-Length") {
  std::mutex m;
  std::optional<Request> seen;
  Server server(loopback(), [&](Request&& req, Respond respond) {
    {
      std::lock_guard lock(m);
      seen = req;
    }
    respond(text("ok"));
  });
  server.start();
  Client c(server.port());
  auto res = c.request(bhttp::verb::get, "/v1/a%20b/c+d?domain=credit%20risk&q=a+b%26c&flag&x=%E2%9C%93&domain=second",
                       {}, {{"X-Test", "Yes"}});
  CHECK(res.result_int() == 200);
  CHECK(res.body() == "ok");
  CHECK(res[bhttp::field::server] == "hitl");
  CHECK(res[bhttp::field::content_length] == "2");
  CHECK(res[bhttp::field::content_type] == "text/plain");
  CHECK(res.keep_alive());

  std::lock_guard lock(m);
  REQUIRE(seen);
  CHECK(seen->method == "GET");
  CHECK(seen->target == "/v1/a%20b/c+d?domain=credit%20risk&q=a+b%26c&flag&x=%E2%9C%93&domain=second");
  CHECK(seen->path == "/v1/a b/c+d");  // '+' stays literal in the path
  CHECK(seen->query.at("domain") == "credit risk");  // the first occurrence wins
  CHECK(seen->query.at("q") == "a b&c");
  CHECK(seen->query.at("flag").empty());
  CHECK(seen->query.at("x") == "\xE2\x9C\x93");
  CHECK(seen->header("x-test") == "Yes");
  CHECK(seen->header("host") == "127.0.0.1");
  CHECK(seen->body.empty());
}

TEST_CASE("POST body reaches the handler and status with content type and extra headers come back") {
  Server server(loopback(), [](Request&& req, Respond respond) {
    Response r;
    r.status = 201;
    r.body = req.method + ":" + req.body;
    r.headers = {{"X-Request-Id", "abc"}, {"Location", "/v1/things/1"}};
    respond(std::move(r));
  });
  server.start();
  Client c(server.port());
  std::string body(100000, 'x');
  body += "{\"end\":true}";
  auto res = c.request(bhttp::verb::post, "/echo", body, {{"Content-Type", "application/json"}});
  CHECK(res.result_int() == 201);
  CHECK(res.body() == "POST:" + body);
  CHECK(res[bhttp::field::content_type] == "application/json");
  CHECK(res["X-Request-Id"] == "abc");
  CHECK(res[bhttp::field::location] == "/v1/things/1");
  CHECK(res[bhttp::field::content_length] == std::to_string(body.size() + 5));
}

TEST_CASE("keep-alive serves many requests on one connection until HTTP/1.0 or Connection: close") {
  std::atomic<int> calls{0};
  Server server(loopback(), [&](Request&& req, Respond respond) {
    ++calls;
    respond(text(req.path));
  });
  server.start();
  Client c(server.port());
  for (int i = 0; i < 20; ++i) {
    auto res = c.request(bhttp::verb::get, "/n/" + std::to_string(i));
    REQUIRE(res.body() == "/n/" + std::to_string(i));
    REQUIRE(res.keep_alive());
  }
  CHECK(calls == 20);

  auto res = c.request(bhttp::verb::get, "/last", {}, {{"Connection", "close"}});
  CHECK(res.body() == "/last");
  CHECK_FALSE(res.keep_alive());
  CHECK(c.closed_by_server());

  Client old(server.port());
  auto res10 = old.request(bhttp::verb::get, "/http10", {}, {}, 10);
  CHECK(res10.body() == "/http10");
  CHECK(res10.version() == 10);
  CHECK_FALSE(res10.keep_alive());
  CHECK(old.closed_by_server());
}

TEST_CASE("pipelined requests are answered in order even when the first one is slow") {
  LaterResponder later;
  Server server(loopback(), [&](Request&& req, Respond respond) {
    if (req.path == "/slow")
      later.push(std::move(respond), text("slow"), std::chrono::milliseconds(100));
    else
      respond(text(req.path + ":" + req.body));
  });
  server.start();
  Client c(server.port());
  c.send_raw(
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.read().body() == "slow");
  CHECK(c.read().body() == "/b:abc");
  CHECK(c.read().body() == "/c:");
}

TEST_CASE("a body over max_body_bytes gets 413 with a JSON error and the connection closes") {
  std::atomic<int> calls{0};
  Server server(loopback(1024), [&](Request&&, Respond respond) {
    ++calls;
    respond(text("should not happen"));
  });
  server.start();
  const std::string expected =
      R"({"error":{"code":"payload_too_large","message":"request body exceeds 1024 bytes","field":null}})";

  SECTION("declared by Content-Length, client sends all of it (the server drains it)") {
    Client c(server.port());
    auto res = c.request(bhttp::verb::post, "/big", std::string(2 << 20, 'a'));
    CHECK(res.result_int() == 413);
    CHECK(res.body() == expected);
    CHECK(res[bhttp::field::content_type] == "application/json");
    CHECK_FALSE(res.keep_alive());
    CHECK(c.closed_by_server());
  }
  SECTION("chunked body that grows past the limit") {
    Client c(server.port());
    std::string chunk(800, 'b');
    c.send_raw("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk + "\r\n320\r\n" +
               chunk + "\r\n0\r\n\r\n");
    auto res = c.read();
    CHECK(res.result_int() == 413);
    CHECK(res.body() == expected);
    CHECK(c.closed_by_server());
  }
  SECTION("exactly at the limit is accepted") {
    Client c(server.port());
    auto res = c.request(bhttp::verb::post, "/fits", std::string(1024, 'c'));
    CHECK(res.result_int() == 200);
    CHECK(calls == 1);
  }
}

TEST_CASE("malformed requests get 400 JSON bad_request") {
  std::atomic<int> calls{0};
  Server server(loopback(), [&](Request&&, Respond respond) {
    ++calls;
    respond(text("no"));
  });
  server.start();

  SECTION("not HTTP at all") {
    Client c(server.port());
    c.send_raw("this is not http\r\n\r\n");
    auto res = c.read();
    CHECK(res.result_int() == 400);
    CHECK(res.body().rfind(R"({"error":{"code":"bad_request","message":"malformed HTTP request: )", 0) == 0);
    CHECK(c.closed_by_server());
  }
  SECTION("bad Content-Length") {
    Client c(server.port());
    c.send_raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n");
    auto res = c.read();
    CHECK(res.result_int() == 400);
    CHECK(res.body().find("\"bad_request\"") != std::string::npos);
  }
  SECTION("broken percent-encoding in the path") {
    Client c(server.port());
    auto res = c.request(bhttp::verb::get, "/v1/%zz");
    CHECK(res.result_int() == 400);
    CHECK(res.body() ==
          R"({"error":{"code":"bad_request","message":"invalid percent-encoding in request path","field":null}})");
  }
  SECTION("oversized header block gets 431") {
    Client c(server.port());
    auto res = c.request(bhttp::verb::get, "/", {}, {{"X-Big", std::string(20000, 'h')}});
    CHECK(res.result_int() == 431);
    CHECK(res.body().find("\"header_too_large\"") != std::string::npos);
  }
  CHECK(calls == 0);
}

TEST_CASE("a handler may respond later from another thread and a second Respond call is ignored") {
  LaterResponder later;
  Server server(loopback(), [&](Request&& req, Respond respond) {
    if (req.path == "/twice") {
      respond(text("first"));
      respond(text("second"));
      return;
    }
    later.push(std::move(respond), text("later " + req.path), std::chrono::milliseconds(20));
  });
  server.start();
  Client c(server.port());
  CHECK(c.request(bhttp::verb::get, "/one").body() == "later /one");
  CHECK(c.request(bhttp::verb::get, "/twice").body() == "first");
  // Had the second call produced a reply, this read would see "second".
  CHECK(c.request(bhttp::verb::get, "/two").body() == "later /two");
}

TEST_CASE("a reply with build is made on the I/O thread, keeps the headers set on it, and a throwing build is a 500") {
  std::atomic<std::thread::id> built_on{};
  std::thread::id responded_on;
  Server server(loopback(), [&](Request&& req, Respond respond) {
    Response r;
    r.headers.emplace_back("X-Set-Before", "yes");  // as the UI's security headers are
    if (req.path == "/throws") {
      r.build = []() -> Response { throw std::runtime_error("no body"); };
    } else {
      r.build = [&built_on] {
        built_on = std::this_thread::get_id();
        Response out = text("made later");
        out.status = 201;
        out.headers.emplace_back("X-Built", "1");
        return out;
      };
    }
    std::thread answering([&, respond = std::move(respond), r = std::move(r)]() mutable {
      responded_on = std::this_thread::get_id();
      respond(std::move(r));
    });
    answering.join();
  });
  server.start();
  Client c(server.port());
  const auto res = c.request(bhttp::verb::get, "/made");
  CHECK(res.result_int() == 201);
  CHECK(res.body() == "made later");
  CHECK(res[bhttp::field::content_length] == "10");
  CHECK(res["X-Set-Before"] == "yes");
  CHECK(res["X-Built"] == "1");
  CHECK(built_on.load() != std::thread::id{});
  CHECK(built_on.load() != responded_on);  // not on the thread that called Respond
  const auto failed = c.request(bhttp::verb::get, "/throws");
  CHECK(failed.result_int() == 500);
  CHECK(failed.body().find("building the reply failed: no body") != std::string::npos);
  CHECK(failed["X-Set-Before"] == "yes");
}

TEST_CASE("a Respond dropped without being called answers 500 internal") {
  std::mutex m;
  std::vector<Respond> parked;
  Server server(loopback(), [&](Request&& req, Respond respond) {
    if (req.path == "/park") {
      std::lock_guard lock(m);
      parked.push_back(std::move(respond));
    }
    // otherwise: drop it right here
  });
  server.start();
  const std::string expected =
      R"({"error":{"code":"internal","message":"no response produced","field":null}})";
  Client c(server.port());
  auto res = c.request(bhttp::verb::get, "/drop");
  CHECK(res.result_int() == 500);
  CHECK(res.body() == expected);
  CHECK(res.keep_alive());

  // Dropped on another thread, later.
  c.send(bhttp::verb::get, "/park");
  std::thread dropper([&] {
    for (;;) {
      std::lock_guard lock(m);
      if (!parked.empty()) {
        parked.clear();
        return;
      }
    }
  });
  auto res2 = c.read();
  dropper.join();
  CHECK(res2.result_int() == 500);
  CHECK(res2.body() == expected);
  CHECK(c.request(bhttp::verb::get, "/drop").result_int() == 500);  // connection still usable
}

TEST_CASE("a throwing handler answers 500 internal with the reason") {
  Server server(loopback(), [&](Request&& req, Respond respond) {
    if (req.path == "/after") {
      respond(text("already answered"));
      throw std::runtime_error("late failure");
    }
    if (req.path == "/int") throw 42;
    throw std::runtime_error("database \"on fire\"");
  });
  server.start();
  Client c(server.port());
  auto res = c.request(bhttp::verb::get, "/x");
  CHECK(res.result_int() == 500);
  CHECK(res.body() ==
        R"({"error":{"code":"internal","message":"request handler failed: database \"on fire\"","field":null}})");
  auto res_int = c.request(bhttp::verb::get, "/int");
  CHECK(res_int.result_int() == 500);
  CHECK(res_int.body().find("\"internal\"") != std::string::npos);
  auto res_after = c.request(bhttp::verb::get, "/after");
  CHECK(res_after.result_int() == 200);
  CHECK(res_after.body() == "already answered");
}

TEST_CASE("32 concurrent keep-alive clients x 200 requests are all answered correctly") {
  LaterResponder later;
  std::atomic<int> calls{0};
  auto options = loopback();
  options.threads = 4;
  Server server(options, [&](Request&& req, Respond respond) {
    ++calls;
    auto r = text(req.query.at("c") + "/" + req.query.at("i") + "/" + req.body);
    // Every third reply comes from another thread, like a committed write.
    if (std::stoi(req.query.at("i")) % 3 == 0)
      later.push(std::move(respond), std::move(r));
    else
      respond(std::move(r));
  });
  server.start();
  constexpr int kClients = 32, kRequests = 200;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int ci = 0; ci < kClients; ++ci) {
    clients.emplace_back([&, ci] {
      try {
        Client c(server.port());
        for (int i = 0; i < kRequests; ++i) {
          auto body = "b" + std::to_string(ci * 1000 + i);
          auto res = c.request(bhttp::verb::post, "/r?c=" + std::to_string(ci) + "&i=" + std::to_string(i), body);
          if (res.result_int() == 200 && res.body() == std::to_string(ci) + "/" + std::to_string(i) + "/" + body)
            ++good;
        }
      } catch (const std::exception&) {
        // counted as missing answers below
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(good == kClients * kRequests);
  CHECK(calls == kClients * kRequests);
}

TEST_CASE("port 0 picks a free port and binding a port in use names host:port") {
  Server a(loopback(), [](Request&&, Respond respond) { respond(text("a")); });
  CHECK(a.port() == 0);  // not started yet
  a.start();
  REQUIRE(a.port() != 0);
  Client c(a.port());
  CHECK(c.request(bhttp::verb::get, "/").body() == "a");

  auto busy = loopback();
  busy.port = a.port();
  Server b(busy, [](Request&&, Respond respond) { respond(text("b")); });
  try {
    b.start();
    FAIL("start() on a busy port should throw");
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    CHECK(msg.find("127.0.0.1:" + std::to_string(a.port())) != std::string::npos);
    CHECK(msg.find("in use") != std::string::npos);
  }

  auto bad = loopback();
  bad.host = "no-such-host.invalid";
  Server d(bad, [](Request&&, Respond respond) { respond(text("d")); });
  CHECK_THROWS_WITH(d.start(), Catch::Contains("no-such-host.invalid:0"));
}

TEST_CASE("stop() closes open connections even with a reply pending and returns") {
  std::mutex m;
  std::vector<Respond> parked;
  std::promise<void> handler_called;
  auto server = std::make_unique<Server>(loopback(), [&](Request&&, Respond respond) {
    std::lock_guard lock(m);
    parked.push_back(std::move(respond));
    handler_called.set_value();
  });
  server->start();
  Client idle(server->port());
  Client waiting(server->port());
  waiting.send(bhttp::verb::get, "/never");
  handler_called.get_future().wait();

  server->stop();
  CHECK(idle.closed_by_server());
  CHECK(waiting.closed_by_server());
  CHECK_THROWS(Client(server->port()));  // nothing listens any more
  server->stop();  // idempotent
  server.reset();
  // A reply arriving after the server is gone (e.g. from a late commit) is dropped safely.
  std::lock_guard lock(m);
  REQUIRE(parked.size() == 1);
  parked.front()(text("too late"));
  parked.clear();
}

TEST_CASE("a keep-alive connection silent after its reply is closed after header_timeout_seconds") {
  EventCounts events;
  auto options = loopback();
  options.header_timeout_seconds = 1;
  options.idle_timeout_seconds = 30;
  options.on_event = events.callback();
  Server server(options, [](Request&&, Respond respond) { respond(text("ok")); });
  server.start();
  Client c(server.port());
  CHECK(c.request(bhttp::verb::get, "/").body() == "ok");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(c.closed_by_server());  // blocks until the server gives up on the silent client
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(events.settled(TransportEvent::header_timeout, 1) == 1);
}

TEST_CASE("a request header trickling in slower than header_timeout_seconds is cut (slowloris)") {
  EventCounts events;
  auto options = loopback();
  options.header_timeout_seconds = 1;
  options.idle_timeout_seconds = 30;  // each byte is "progress": only the header deadline can stop it
  options.on_event = events.callback();
  std::atomic<int> calls{0};
  Server server(options, [&](Request&&, Respond respond) {
    ++calls;
    respond(text("ok"));
  });
  server.start();
  Client c(server.port());
  const auto t0 = std::chrono::steady_clock::now();
  const std::string header = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  bool cut = false;
  for (char ch : header) {  // one byte every 100 ms: 5+ seconds for the whole header
    beast::error_code ec;
    net::write(c.socket(), net::buffer(&ch, 1), ec);
    if (ec) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(3)) break;
  }
  CHECK((cut || c.closed_by_server()));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
  CHECK(events.settled(TransportEvent::header_timeout, 1) == 1);
  CHECK(calls == 0);
}

TEST_CASE("at max_connections a new client is served by reclaiming the longest-idle connection") {
  EventCounts events;
  auto options = loopback();
  options.max_connections = 3;
  options.on_event = events.callback();
  Server server(options, [](Request&&, Respond respond) { respond(text("ok")); });
  server.start();
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<Client>(server.port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a definite oldest
  }
  Client fresh(server.port());
  auto res = fresh.request(bhttp::verb::get, "/healthz");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == "ok");
  CHECK(idle[0]->closed_by_server());  // the oldest silent one made room
  CHECK(events.settled(TransportEvent::connection_reclaimed, 1) == 1);
  CHECK(events.count(TransportEvent::too_many_connections) == 0);
}

TEST_CASE("at max_connections with every connection mid-request a new one gets 503 too_many_connections") {
  EventCounts events;
  LaterResponder later;
  auto options = loopback();
  options.max_connections = 2;
  options.on_event = events.callback();
  std::atomic<int> held{0};
  Server server(options, [&](Request&&, Respond respond) {
    ++held;
    later.push(std::move(respond), text("late"), std::chrono::milliseconds(1500));
  });
  server.start();
  Client a(server.port()), b(server.port());
  a.send(bhttp::verb::get, "/slow");
  b.send(bhttp::verb::get, "/slow");
  for (int i = 0; i < 200 && held < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(held == 2);
  Client c(server.port());
  auto res = c.read();  // the refusal comes without a request
  CHECK(res.result_int() == 503);
  CHECK(res.body().find("\"too_many_connections\"") != std::string::npos);
  CHECK(res[bhttp::field::retry_after] == "1");
  CHECK_FALSE(res.keep_alive());
  CHECK(c.closed_by_server());
  CHECK(events.count(TransportEvent::too_many_connections) == 1);
  CHECK(a.read().body() == "late");  // the busy connections are untouched
}

TEST_CASE("invalid UTF-8 in the decoded path or a query key or value gets 400 bad_request") {
  EventCounts events;
  auto options = loopback();
  options.on_event = events.callback();
  std::atomic<int> calls{0};
  Server server(options, [&](Request&& req, Respond respond) {
    ++calls;
    respond(text(req.query["q"]));
  });
  server.start();
  for (const char* target : {"/v1/%ff", "/x?domain=%ff", "/x?%ff=1", "/x?q=%c0%af", "/x?q=%ed%a0%80", "/x?q=%e2%82"}) {
    Client c(server.port());
    auto res = c.request(bhttp::verb::get, target);
    INFO(target);
    CHECK(res.result_int() == 400);
    CHECK(res.body().rfind(R"({"error":{"code":"bad_request","message":)", 0) == 0);
    CHECK(res.body().find("not valid UTF-8") != std::string::npos);
  }
  CHECK(calls == 0);
  CHECK(events.count(TransportEvent::bad_request) == 6);
  Client ok(server.port());
  auto res = ok.request(bhttp::verb::get, "/x?q=%C3%A9t%C3%A9%F0%9F%98%80");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == "\xC3\xA9t\xC3\xA9\xF0\x9F\x98\x80");
}

TEST_CASE("a reply that takes longer than the idle timeout is still delivered") {
  LaterResponder later;
  auto options = loopback();
  options.idle_timeout_seconds = 1;
  Server server(options, [&](Request&&, Respond respond) {
    later.push(std::move(respond), text("slow but fine"), std::chrono::milliseconds(1500));
  });
  server.start();
  Client c(server.port());
  auto res = c.request(bhttp::verb::get, "/long-poll");
  CHECK(res.body() == "slow but fine");
  CHECK(res.keep_alive());
}

TEST_CASE("Expect: 100-continue gets an interim 100 before the body and HEAD gets no body") {
  Server server(loopback(), [](Request&& req, Respond respond) { respond(text("got " + req.body)); });
  server.start();
  Client c(server.port());
  c.send_raw("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  bhttp::response<bhttp::empty_body> interim;
  bhttp::read(c.socket(), c.buffer(), interim);
  CHECK(interim.result() == bhttp::status::continue_);
  c.send_raw("hello");
  CHECK(c.read().body() == "got hello");

  c.send_raw("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n");
  bhttp::response_parser<bhttp::string_body> head;
  head.skip(true);  // a response to HEAD has no body whatever Content-Length says
  bhttp::read(c.socket(), c.buffer(), head);
  CHECK(head.get()[bhttp::field::content_length] == "4");
  CHECK(c.read().body() == "got ");  // the next reply starts right after the HEAD headers
}

TEST_CASE("204 goes out without body or Content-Length and an unsendable reply becomes 500") {
  Server server(loopback(), [](Request&& req, Respond respond) {
    Response r;
    r.body = "ignored";
    if (req.path == "/empty") r.status = 204;
    if (req.path == "/status") r.status = 1000;
    if (req.path == "/inject") r.headers = {{"X-Evil", "a\r\nSet-Cookie: stolen=1"}};
    if (req.path == "/badname") r.headers = {{"Bad Name", "v"}};
    respond(std::move(r));
  });
  server.start();
  Client c(server.port());
  auto empty = c.request(bhttp::verb::get, "/empty");
  CHECK(empty.result_int() == 204);
  CHECK(empty.body().empty());
  CHECK(empty.find(bhttp::field::content_length) == empty.end());
  CHECK(empty.find(bhttp::field::content_type) == empty.end());

  auto status = c.request(bhttp::verb::get, "/status");  // same connection: still in sync
  CHECK(status.result_int() == 500);
  CHECK(status.body() ==
        R"({"error":{"code":"internal","message":"handler produced invalid HTTP status 1000","field":null}})");
  auto inject = c.request(bhttp::verb::get, "/inject");
  CHECK(inject.result_int() == 500);
  CHECK(inject.find(bhttp::field::set_cookie) == inject.end());
  CHECK(c.request(bhttp::verb::get, "/badname").result_int() == 500);
  CHECK(c.request(bhttp::verb::get, "/fine").body() == "ignored");
}
