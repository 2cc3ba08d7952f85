// Waiting for a human decision, against a real `hitl serve`: long-poll (?wait=), signed webhooks
// retried with backoff and resumed after a restart, and backpressure (max_open_tasks -> 429).
#include "support.hpp"
#include "support/eventually.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using hitl::test::eventually;
using hitl::test::HttpClient;
using hitl::test::HttpResponse;
using hitl::test::Service;
using nlohmann::json;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

namespace {

// A webhook receiver on 127.0.0.1: records every request and answers 200, or 500 for the next
// `fail_next` requests. close() takes it down (connections refused); open() listens again on the
// same port.
class Receiver {
 public:
  struct Hit {
    std::map<std::string, std::string> headers;  // lower-case names
    std::string target, body;
    int answered = 0;
  };

  Receiver() { open(); }
  ~Receiver() { close(); }
  int port() const { return port_; }
  void fail_next(int n) { fail_ = n; }

  void open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    stop_ = false;
    thread_ = std::thread([this] { run(); });
  }

  void close() {
    if (fd_ < 0) return;
    stop_ = true;
    thread_.join();
    ::close(fd_);
    fd_ = -1;
  }

  std::vector<Hit> hits() const {
    std::lock_guard lock(mu_);
    return hits_;
  }
  std::size_t accepted() const {
    std::size_t n = 0;
    for (auto& h : hits())
      if (h.answered == 200) ++n;
    return n;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      serve(c);
      ::close(c);
    }
  }

  void serve(int c) {
    std::string in;
    char buf[4096];
    std::size_t header_end = std::string::npos, need = 0;
    for (;;) {
      if (header_end != std::string::npos && in.size() >= header_end + 4 + need) break;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
      if (header_end == std::string::npos && (header_end = in.find("\r\n\r\n")) != std::string::npos) {
        auto head = lower(in.substr(0, header_end));
        auto cl = head.find("content-length:");
        if (cl != std::string::npos) need = std::stoul(head.substr(cl + 15));
      }
    }
    Hit h;
    std::string head = in.substr(0, header_end);
    std::size_t line_end = head.find("\r\n");
    std::string request_line = head.substr(0, line_end);
    auto sp1 = request_line.find(' '), sp2 = request_line.rfind(' ');
    h.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end + 2;
    while (pos < head.size()) {
      std::size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(' '));
        h.headers[lower(line.substr(0, colon))] = v;
      }
      pos = e + 2;
    }
    h.body = in.substr(header_end + 4, need);
    h.answered = fail_ > 0 ? (fail_--, 500) : 200;
    std::string reply = "HTTP/1.1 " + std::to_string(h.answered) + (h.answered == 200 ? " OK" : " Internal Server Error") +
                        "\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    std::lock_guard lock(mu_);
    hits_.push_back(std::move(h));
  }

  static std::string lower(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> fail_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Hit> hits_;
};

long long elapsed_ms(SteadyClock::time_point since) {
  return std::chrono::duration_cast<Ms>(SteadyClock::now() - since).count();
}

std::string pending_record(const std::string& id, double confidence = 0.6) {
  return json{{"id", id}, {"input", {{"amount", 5000}}}, {"prediction", {{"label", "good"}, {"confidence", confidence}}}}
      .dump();
}

// Claims the next task of `domain` for `token` and submits `outcome` (with `label` for correct).
json review(HttpClient& c, const std::string& domain, const std::string& token, const std::string& outcome,
            const std::string& label = "") {
  auto next = c.request("GET", "/v1/review/next?domain=" + domain, token);
  INFO(next.body);
  REQUIRE(next.status == 200);
  json body = {{"outcome", outcome}};
  if (!label.empty()) body["correction"] = {{"label", label}};
  const auto task = next.json()["task_id"].get<long long>();
  auto r = c.request("POST", "/v1/review/tasks/" + std::to_string(task) + "/outcome", token, body.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  return next.json();
}

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// One request on its own connection, with the reply headers (HttpClient keeps only the body).
RawResponse raw_request(int port, const std::string& method, const std::string& target, const std::string& token,
                        const std::string& body) {
  namespace beast = boost::beast;
  namespace bhttp = boost::beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::authorization, "Bearer " + token);
  req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  RawResponse out;
  out.status = static_cast<int>(res.result_int());
  for (auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
  out.body = res.body();
  return out;
}

std::string hmac_hex(const std::string& key, const std::string& message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(message.data()), message.size(), md, &len) != nullptr);
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 0xf];
  }
  return hex;
}

struct DeliveryRow {
  long long id = 0, attempts = 0, delivered_ms = 0, next_attempt_ms = 0;
  std::string status, last_error;
};

std::vector<DeliveryRow> deliveries(const Service& s, const std::string& decision_id) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT delivery_id, status, attempts, delivered_ms, next_attempt_ms, last_error "
                          "FROM deliveries WHERE decision_id = ? ORDER BY delivery_id");
  q.bind(1, decision_id);
  std::vector<DeliveryRow> out;
  while (q.executeStep())
    out.push_back({q.getColumn(0).getInt64(), q.getColumn(2).getInt64(), q.getColumn(3).getInt64(),
                   q.getColumn(4).getInt64(), q.getColumn(1).getString(), q.getColumn(5).getString()});
  return out;
}

// A domain with a webhook to `port` (secret "s3cret"), and one capped at two open tasks.
std::string waiting_domains(int port) {
  return R"(
    hooked = { policy = "loans.lua", labels = { "good", "bad" },
               webhook = { url = "http://127.0.0.1:)" + std::to_string(port) + R"(/hooks/hitl?src=test", secret = "s3cret",
                           max_attempts = 30, timeout_ms = 2000 } },
    capped = { policy = "loans.lua", labels = { "good", "bad" }, max_open_tasks = 2 },
    doomed = { policy = "loans.lua", labels = { "good", "bad" },
               webhook = { url = "http://127.0.0.1:)" + std::to_string(port) + R"(/doomed", secret = "x", max_attempts = 2 } },
)";
}

// Starts `s` with retries 100 ms apart (doubling), the test setting of the backoff.
void start_with_short_backoff(Service& s) {
  ::setenv("HITL_WEBHOOK_BACKOFF_MS", "100", 1);
  s.start();
  ::unsetenv("HITL_WEBHOOK_BACKOFF_MS");
}

}  // namespace

TEST_CASE("a long-poll answers when the review is final and a timed-out one answers pending", "[waiting]") {
  Service s;
  s.start();
  HttpClient c(s.port());

  // A client waits on its POST; another waits on GET; a reviewer decides meanwhile.
  const auto t0 = SteadyClock::now();
  auto posted = std::async(std::launch::async, [&] {
    HttpClient waiter(s.port());
    return waiter.request("POST", "/v1/domains/loans/predictions?wait=10s", s.client, pending_record("w-1"));
  });
  REQUIRE(eventually([&] { return c.request("GET", "/v1/domains/loans/decisions/w-1", s.client).status == 200; }, Ms(5000)));
  auto got = std::async(std::launch::async, [&] {
    HttpClient waiter(s.port());
    return waiter.request("GET", "/v1/domains/loans/decisions/w-1?wait=10000ms", s.client);
  });
  // Nothing is final yet, so neither may have answered. No sleep: an early answer could not carry
  // the final label both replies are checked for below.
  CHECK(posted.wait_for(Ms(0)) == std::future_status::timeout);
  CHECK(got.wait_for(Ms(0)) == std::future_status::timeout);
  review(c, "loans", s.reviewer, "correct", "bad");

  auto p = posted.get();
  INFO(p.body);
  REQUIRE(p.status == 200);
  auto pj = p.json();
  CHECK(pj["id"] == "w-1");
  CHECK(pj["status"] == "pending_review");
  CHECK(pj["task_id"].is_number_integer());
  CHECK(pj["final_label"] == "bad");
  CHECK(pj["final_outcome"] == "correct");
  CHECK(pj["reviewed_ms"].get<long long>() > 0);
  CHECK(pj["timed_out"] == false);
  // Held across the reviewer's claim and submit (two requests, two commits), no longer.
  CHECK(pj["waited_ms"].get<long long>() > 0);
  CHECK(pj["waited_ms"].get<long long>() <= elapsed_ms(t0));
  CHECK(elapsed_ms(t0) < 9000);
  auto g = got.get();
  INFO(g.body);
  REQUIRE(g.status == 200);
  CHECK(g.json()["final_label"] == "bad");
  CHECK(g.json()["final_outcome"] == "correct");
  CHECK(g.json()["input"]["amount"] == 5000);  // the decision route's own body
  CHECK(g.json()["timed_out"] == false);

  // Already final: answered at once.
  auto t1 = SteadyClock::now();
  auto again = c.request("GET", "/v1/domains/loans/decisions/w-1?wait=30s", s.client);
  CHECK(elapsed_ms(t1) < 1000);
  REQUIRE(again.status == 200);
  CHECK(again.json()["final_label"] == "bad");
  CHECK(again.json()["waited_ms"] == 0);
  CHECK(again.json()["timed_out"] == false);
  // A record that needs no review is answered at once too.
  auto t2 = SteadyClock::now();
  auto auto_ok = c.request("POST", "/v1/domains/loans/predictions?wait=30", s.client, pending_record("w-auto", 0.95));
  CHECK(elapsed_ms(t2) < 1000);
  REQUIRE(auto_ok.status == 200);
  CHECK(auto_ok.json()["status"] == "auto_approved");
  CHECK(auto_ok.json()["timed_out"] == false);

  // Nobody reviews: the reply comes after about the time asked, pending, timed_out.
  auto t3 = SteadyClock::now();
  auto late = c.request("POST", "/v1/domains/loans/predictions?wait=1s", s.client, pending_record("w-2"));
  const auto waited = elapsed_ms(t3);
  INFO(late.body);
  REQUIRE(late.status == 200);
  CHECK(late.json()["timed_out"] == true);
  CHECK(late.json()["final_label"].is_null());
  CHECK(late.json()["status"] == "pending_review");
  CHECK(waited >= 950);
  CHECK(waited < 3000);
  CHECK(late.json()["waited_ms"].get<long long>() >= 950);
  auto t4 = SteadyClock::now();
  auto late_get = c.request("GET", "/v1/domains/loans/decisions/w-2?wait=500ms", s.client);
  CHECK(elapsed_ms(t4) >= 450);
  REQUIRE(late_get.status == 200);
  CHECK(late_get.json()["timed_out"] == true);
  CHECK(late_get.json()["final_label"].is_null());
  auto zero = c.request("GET", "/v1/domains/loans/decisions/w-2?wait=0", s.client);
  REQUIRE(zero.status == 200);
  CHECK(zero.json()["timed_out"] == true);
  CHECK(zero.json()["waited_ms"] == 0);

  // Bad values: 422 naming "wait", before anything is stored.
  for (std::string bad : {"abc", "-1", "5m", "1.5s", "", "61", "61s", "60001ms", "30sec"}) {
    INFO("wait=" << bad);
    auto r = c.request("POST", "/v1/domains/loans/predictions?wait=" + bad, s.client, pending_record("w-bad"));
    CHECK(r.status == 422);
    CHECK(r.json()["error"]["field"] == "wait");
    auto rg = c.request("GET", "/v1/domains/loans/decisions/w-2?wait=" + bad, s.client);
    CHECK(rg.status == 422);
  }
  CHECK(c.request("GET", "/v1/domains/loans/decisions/w-bad", s.client).status == 404);
  CHECK(c.request("POST", "/v1/domains/loans/predictions?wait=60s", s.client, pending_record("w-max", 0.95)).status == 200);
}

TEST_CASE("a batch long-poll waits for all its pending records", "[waiting]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json batch = json::array({json::parse(pending_record("b-1")), json::parse(pending_record("b-auto", 0.97)),
                            json::parse(pending_record("b-2"))});
  auto posted = std::async(std::launch::async, [&] {
    HttpClient waiter(s.port());
    return waiter.request("POST", "/v1/domains/loans/predictions?wait=15s", s.client, batch.dump());
  });
  REQUIRE(eventually([&] { return c.request("GET", "/v1/domains/loans/decisions/b-2", s.client).status == 200; }, Ms(5000)));
  review(c, "loans", s.reviewer, "approve");
  // One of two is still pending. No sleep: a reply sent now could not hold both outcomes, which
  // the reply is checked for below.
  CHECK(posted.wait_for(Ms(0)) == std::future_status::timeout);
  review(c, "loans", s.reviewer, "reject");
  auto r = posted.get();
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = r.json();
  CHECK(j["timed_out"] == false);
  REQUIRE(j["results"].size() == 3);
  CHECK(j["results"][1]["status"] == "auto_approved");
  std::set<std::string> outcomes;
  for (int i : {0, 2}) {
    CHECK(j["results"][i]["final_outcome"].is_string());
    outcomes.insert(j["results"][i]["final_outcome"].get<std::string>());
  }
  CHECK(outcomes == std::set<std::string>{"approve", "reject"});
}

TEST_CASE("a webhook is retried after receiver failures and delivered once with a valid signature", "[waiting]") {
  Receiver rcv;
  rcv.fail_next(2);
  Service s(waiting_domains(rcv.port()));
  const auto rita = s.token("reviewer", "rita", "hooked,capped,doomed");
  start_with_short_backoff(s);
  HttpClient c(s.port());
  REQUIRE(c.request("POST", "/v1/domains/hooked/predictions", s.client, pending_record("h-1")).status == 200);
  const auto task = review(c, "hooked", rita, "correct", "bad");

  REQUIRE(eventually([&] { return rcv.accepted() >= 1; }, Ms(15000)));
  // No further attempt can come once the row says delivered: the worker only picks rows that are
  // still due. So wait for that state instead of waiting for an extra attempt not to show up.
  REQUIRE(eventually([&] {
    auto r = deliveries(s, "h-1");
    return r.size() == 1 && r[0].status == "delivered";
  }, Ms(5000)));
  auto hits = rcv.hits();
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].answered == 500);
  CHECK(hits[1].answered == 500);
  CHECK(hits[2].answered == 200);
  CHECK(rcv.accepted() == 1);

  auto rows = deliveries(s, "h-1");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "delivered");
  CHECK(rows[0].attempts == 3);
  CHECK(rows[0].delivered_ms > 0);

  for (std::size_t i = 0; i < hits.size(); ++i) {
    auto& h = hits[i];
    INFO(h.body);
    CHECK(h.target == "/hooks/hitl?src=test");
    CHECK(h.headers["content-type"] == "application/json");
    CHECK(h.headers["x-hitl-event"] == "decision.final");
    CHECK(h.headers["x-hitl-delivery"] == std::to_string(rows[0].id));
    const std::string ts = h.headers["x-hitl-timestamp"];
    REQUIRE(!ts.empty());
    CHECK(ts.find_first_not_of("0123456789") == std::string::npos);
    CHECK(h.headers["x-hitl-signature"] == "sha256=" + hmac_hex("s3cret", ts + "." + h.body));
    CHECK(h.headers["x-hitl-signature"] != "sha256=" + hmac_hex("other", ts + "." + h.body));
    auto b = json::parse(h.body);
    CHECK(b["event"] == "decision.final");
    CHECK(b["domain"] == "hooked");
    CHECK(b["id"] == "h-1");
    CHECK(b["status"] == "pending_review");
    CHECK(b["label"] == "good");
    CHECK(b["confidence"] == 0.6);
    CHECK(b["final_label"] == "bad");
    CHECK(b["final_outcome"] == "correct");
    CHECK(b["reviewed_ms"].get<long long>() > 0);
    CHECK(b["task_id"] == task["task_id"]);
    CHECK(b["delivery_id"] == rows[0].id);
    CHECK(b["attempt"] == static_cast<int>(i + 1));
  }
  // A domain without a webhook stores no delivery.
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, pending_record("nohook")).status == 200);
  review(c, "loans", s.reviewer, "approve");
  CHECK(deliveries(s, "nohook").empty());
}

TEST_CASE("a webhook still failing at shutdown is delivered after the restart", "[waiting]") {
  Receiver rcv;
  rcv.close();  // the receiver is down: connections are refused
  Service s(waiting_domains(rcv.port()));
  const auto rita = s.token("reviewer", "rita", "hooked,capped,doomed");
  start_with_short_backoff(s);
  {
    HttpClient c(s.port());
    // A domain allowing two attempts gives up after them, and says so in the log.
    REQUIRE(c.request("POST", "/v1/domains/doomed/predictions", s.client, pending_record("d-1")).status == 200);
    review(c, "doomed", rita, "approve");
    REQUIRE(eventually([&] {
      auto rows = deliveries(s, "d-1");
      return rows.size() == 1 && rows[0].status == "failed";
    }, Ms(10000)));
    CHECK(deliveries(s, "d-1").at(0).attempts == 2);
    CHECK(s.log().find("giving up domain=doomed decision=d-1") != std::string::npos);

    REQUIRE(c.request("POST", "/v1/domains/hooked/predictions", s.client, pending_record("r-1")).status == 200);
    review(c, "hooked", rita, "approve");
  }
  REQUIRE(eventually([&] {
    auto rows = deliveries(s, "r-1");
    return rows.size() == 1 && rows[0].attempts >= 2;
  }, Ms(10000)));
  s.stop();
  auto rows = deliveries(s, "r-1");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "pending");
  CHECK(rows[0].last_error.find("connect") != std::string::npos);
  const auto attempts_before = rows[0].attempts;

  rcv.open();
  start_with_short_backoff(s);
  REQUIRE(eventually([&] { return rcv.accepted() == 1; }, Ms(15000)));
  REQUIRE(eventually([&] { return deliveries(s, "r-1").at(0).status == "delivered"; }, Ms(5000)));
  rows = deliveries(s, "r-1");
  CHECK(rows[0].attempts == attempts_before + 1);
  auto hits = rcv.hits();
  REQUIRE(hits.size() == 1);
  auto b = json::parse(hits[0].body);
  CHECK(b["id"] == "r-1");
  CHECK(b["final_outcome"] == "approve");
  CHECK(b["attempt"] == attempts_before + 1);
  CHECK(deliveries(s, "d-1").at(0).status == "failed");  // not tried again
  CHECK(s.log().find("webhook delivered") != std::string::npos);
}

TEST_CASE("ingest answers 429 with Retry-After at max_open_tasks and stores nothing", "[waiting]") {
  Receiver unused;
  Service s(waiting_domains(unused.port()));
  const auto rita = s.token("reviewer", "rita", "hooked,capped,doomed");
  s.start();
  HttpClient c(s.port());
  const std::string path = "/v1/domains/capped/predictions";
  REQUIRE(c.request("POST", path, s.client, pending_record("c-1")).status == 200);
  REQUIRE(c.request("POST", path, s.client, pending_record("c-2")).status == 200);

  auto full = raw_request(s.port(), "POST", path, s.client, pending_record("c-3"));
  INFO(full.body);
  CHECK(full.status == 429);
  CHECK(full.headers["Retry-After"] == "5");
  auto err = json::parse(full.body)["error"];
  CHECK(err["code"] == "too_many_open_tasks");
  CHECK(err["message"].get<std::string>().find("max_open_tasks 2") != std::string::npos);
  CHECK(c.request("GET", "/v1/domains/capped/decisions/c-3", s.client).status == 404);
  // Refused before scoring: even a record the policy would auto-approve, and a waiting one.
  CHECK(c.request("POST", path, s.client, pending_record("c-auto", 0.99)).status == 429);
  CHECK(c.request("POST", path + "?wait=5s", s.client, pending_record("c-4")).status == 429);
  {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM decisions WHERE domain = 'capped'").getInt64() == 2);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE entity_id IN ('c-3', 'c-auto', 'c-4')").getInt64() == 0);
  }
  // Other domains are not limited.
  CHECK(c.request("POST", "/v1/domains/loans/predictions", s.client, pending_record("l-1")).status == 200);

  // A claimed task is still open; a completed one is not.
  auto next = c.request("GET", "/v1/review/next?domain=capped", rita);
  REQUIRE(next.status == 200);
  CHECK(c.request("POST", path, s.client, pending_record("c-3")).status == 429);
  auto done = c.request("POST", "/v1/review/tasks/" + std::to_string(next.json()["task_id"].get<long long>()) + "/outcome",
                        rita, R"({"outcome":"approve"})");
  REQUIRE(done.status == 200);
  auto ok = c.request("POST", path, s.client, pending_record("c-3"));
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(ok.json()["status"] == "pending_review");
  CHECK(c.request("POST", path, s.client, pending_record("c-5")).status == 429);
}

TEST_CASE("stopping the service answers the requests still waiting", "[waiting]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto posted = std::async(std::launch::async, [&] {
    HttpClient waiter(s.port());
    return waiter.request("POST", "/v1/domains/loans/predictions?wait=30s", s.client, pending_record("s-1"));
  });
  REQUIRE(eventually([&] { return c.request("GET", "/v1/domains/loans/decisions/s-1", s.client).status == 200; }, Ms(5000)));
  // A bounded wait remains: the waiter registers right after the commit that makes the decision
  // readable, and nothing outside the process shows when it has (no waiter count is exported).
  std::this_thread::sleep_for(Ms(200));
  const auto t0 = SteadyClock::now();
  s.stop();
  REQUIRE(posted.wait_for(Ms(5000)) == std::future_status::ready);
  CHECK(elapsed_ms(t0) < 5000);
  auto r = posted.get();
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.json()["timed_out"] == true);
  CHECK(r.json()["status"] == "pending_review");
  CHECK(r.json()["final_label"].is_null());
}
