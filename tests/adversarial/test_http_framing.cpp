// HTTP framing tricks on raw sockets: each malformed request gets a 4xx (or the connection is
// closed without one), nothing is smuggled past the parser, and /healthz keeps answering.
#include "adversarial.hpp"
#include "transport_support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using hitl::test::check_healthy;
using hitl::test::count_rows;
using hitl::test::Service;
using namespace std::chrono_literals;

namespace {

// Sends `raw` on a fresh connection and returns the status of the first reply, 0 when the
// server closed without one, -1 when it neither answered nor closed within 3 s.
int status_of(int port, const std::string& raw) {
  const int fd = hitl::test::raw_connect(port);
  if (fd < 0) return -2;
  hitl::test::raw_send(fd, raw);
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.find("\r\n") != std::string::npos) break;
  }
  ::close(fd);
  if (reply.rfind("HTTP/1.", 0) == 0 && reply.size() >= 12) return std::stoi(reply.substr(9, 3));
  return reply.empty() ? 0 : -1;
}

std::string post(const std::string& token, const std::string& extra_headers, const std::string& body) {
  return "POST /v1/domains/loans/predictions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n" +
         extra_headers + "\r\n" + body;
}

const std::string kRecord = R"({"id":"framed","input":{"amount":1},"prediction":{"label":"good","confidence":0.5}})";

}  // namespace

TEST_CASE("malformed HTTP framing gets a 4xx or a close, never a 5xx or a hang", "[adversarial]") {
  Service s;
  s.start();
  const std::string cl = "Content-Length: " + std::to_string(kRecord.size()) + "\r\n";
  struct Case {
    const char* what;
    std::string raw;
    bool may_succeed = false;  // RFC 9112 lets a server unfold obs-fold instead of refusing it
  };
  const std::vector<Case> cases = {
      {"two different Content-Lengths", post(s.client, cl + "Content-Length: 3\r\n", kRecord)},
      {"negative Content-Length", post(s.client, "Content-Length: -5\r\n", kRecord)},
      {"Content-Length with junk", post(s.client, "Content-Length: 12abc\r\n", kRecord)},
      {"chunk size not hex", post(s.client, "Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n")},
      {"chunk size overflow", post(s.client, "Transfer-Encoding: chunked\r\n", "ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n")},
      {"unknown transfer coding", post(s.client, "Transfer-Encoding: gzip, identity\r\n", kRecord)},
      {"header without a colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n"},
      {"NUL in a header value", std::string("GET /healthz HTTP/1.1\r\nHost: a\0b\r\n\r\n", 36)},
      {"obsolete line folding", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", true},
      {"garbage request line", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"},
      {"unknown HTTP version", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"},
      {"space in the target", "GET /heal thz HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"bad percent escape", "GET /v1/%zz HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"invalid UTF-8 in the path", "GET /v1/domains/%ff%fe/decisions/x HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"header block over 16 KiB", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"},
      {"body over max_body_bytes", post(s.client, "Content-Length: 999999999\r\n", "")},
  };
  for (const auto& c : cases) {
    const int status = status_of(s.port(), c.raw);
    INFO(c.what << " -> " << status);
    CHECK(((status >= 400 && status < 500) || status == 0 || (c.may_succeed && status == 200)));
  }
  check_healthy(s);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 0);
}

TEST_CASE("a request hidden in a body is never executed as a second request", "[adversarial]") {
  Service s;
  s.start();
  const std::string hidden = post(s.client, "Content-Length: " + std::to_string(kRecord.size()) + "\r\n", kRecord);
  // Content-Length and chunked together: whichever framing the server picks, the hidden
  // request must not reach the router as a request of its own.
  const std::string chunked_body = "0\r\n\r\n" + hidden;
  const std::string raw = post(s.client, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked_body);
  const int status = status_of(s.port(), raw);
  INFO("status " << status);
  CHECK(status != 200);
  // A bounded wait remains: a hidden request wrongly split off would run on that connection after
  // the answer read above, and no later event on it can be observed (the test has closed it).
  std::this_thread::sleep_for(200ms);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions WHERE id = 'framed'") == 0);
  check_healthy(s);
}
