// 64 (or N) reviewers claiming and submitting over HTTP at once, for a number of seconds.
//   reviewers URL[,URL...] TOKENS_FILE SECONDS
// Several URLs (instances sharing one database): reviewer i works on URL i mod their number. Each
// reviewer has its own token (one per line of TOKENS_FILE), thread and keep-alive connection, and
// loops GET /v1/review/next -> POST /v1/review/tasks/{id}/outcome (approve). Prints pairs/s, the
// claim latency p50/p99, errors, and double claims: a task handed to one reviewer twice, or to
// more reviewers than its reviews_required (must be 0; every claimed task is answered, so such a
// claim would be a broken exactly-once). A task that needs two answers (the example's audit
// samples, reviewers_needed = 2, reached once the queue drains) goes to two reviewers by design:
// its reviews_required is read from GET /v1/review/tasks after the run, and those second claims
// are counted apart (consensus_second_claims).
//
// C++ rather than Python: a 64-thread Python client spent 0.16-0.19 ms of CPU a pair, half of what
// the service spends, on the same 2 cores, and its GIL serialised the reviewers (docs/performance.md,
// "Claims"). Built by bench.sh and postgres.sh with `g++ -O2 -pthread`; no dependencies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  int port = 0;
};

Endpoint parse_url(const std::string& url) {  // http://host:port
  const auto start = url.find("://") == std::string::npos ? 0 : url.find("://") + 3;
  const auto colon = url.find(':', start);
  return {url.substr(start, colon - start), std::atoi(url.c_str() + colon + 1)};
}

struct Response {
  int status = 0;
  std::string body;
};

// One keep-alive HTTP/1.1 connection; the service answers every request with Content-Length (or 204).
class Connection {
 public:
  explicit Connection(const Endpoint& e) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(e.port));
    ::inet_pton(AF_INET, e.host == "localhost" ? "127.0.0.1" : e.host.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("connect");
      std::exit(2);
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends the request and reads its response; status 0 when the connection failed.
  Response request(const std::string& method, const std::string& target, const std::string& token,
                   const std::string& body = "") {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + token + "\r\n";
    if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    for (std::size_t sent = 0; sent < req.size();) {
      const auto n = ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return {};
      sent += static_cast<std::size_t>(n);
    }
    return read_response();
  }

 private:
  Response read_response() {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return {};
    Response r;
    r.status = std::atoi(buf_.c_str() + buf_.find(' ') + 1);
    std::size_t length = 0;
    const std::string head = buf_.substr(0, end);
    for (const char* name : {"\r\nContent-Length:", "\r\ncontent-length:"})
      if (const auto at = head.find(name); at != std::string::npos) length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
    buf_.erase(0, end + 4);
    while (buf_.size() < length)
      if (!fill()) return {};
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }
  bool fill() {
    char chunk[16384];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// The integer after "key": in a JSON text (the service writes no spaces), or -1.
long long json_int(const std::string& text, const std::string& key, std::size_t from = 0) {
  const auto at = text.find("\"" + key + "\":", from);
  return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + key.size() + 3);
}

struct Shared {
  std::mutex mu;
  std::map<long long, std::vector<int>> holders;  // task id -> the reviewers it was handed to
  std::vector<double> claim_ms;
  std::vector<std::string> errors;
  long long empty = 0;
};

void reviewer(int who, const Endpoint& at, const std::string& token, Clock::time_point deadline, Shared& out) {
  Connection c(at);
  std::vector<double> mine;
  std::vector<long long> claimed;
  std::vector<std::string> errors;
  long long empty = 0;
  while (Clock::now() < deadline) {
    const auto t0 = Clock::now();
    const Response r = c.request("GET", "/v1/review/next?domain=credit_risk", token);
    mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (r.status == 204) {
      ++empty;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (r.status != 200) {
      errors.push_back("claim " + std::to_string(r.status) + " " + r.body.substr(0, 120));
      if (r.status == 0) break;
      continue;
    }
    const long long task = json_int(r.body, "task_id");
    claimed.push_back(task);
    const Response o = c.request("POST", "/v1/review/tasks/" + std::to_string(task) + "/outcome", token,
                                 R"({"outcome":"approve"})");
    if (o.status != 200) errors.push_back("outcome " + std::to_string(o.status) + " " + o.body.substr(0, 120));
  }
  std::lock_guard lock(out.mu);
  for (long long t : claimed) out.holders[t].push_back(who);
  out.claim_ms.insert(out.claim_ms.end(), mine.begin(), mine.end());
  out.errors.insert(out.errors.end(), errors.begin(), errors.end());
  out.empty += empty;
}

// How many reviewers the task needs, from the task listing (the cursor lists ids above it).
long long reviews_required(const Endpoint& at, const std::string& token, long long task) {
  Connection c(at);
  const Response r = c.request("GET", "/v1/review/tasks?domain=credit_risk&cursor=" + std::to_string(task - 1) + "&limit=1", token);
  if (r.status != 200 || json_int(r.body, "task_id") != task) return 1;
  return std::max(1LL, json_int(r.body, "reviews_required"));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: reviewers URL[,URL...] TOKENS_FILE SECONDS\n");
    return 2;
  }
  std::vector<Endpoint> urls;
  for (const auto& u : split(argv[1], ',')) urls.push_back(parse_url(u));
  std::vector<std::string> tokens;
  std::ifstream in(argv[2]);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) tokens.push_back(line);
  const double seconds = std::atof(argv[3]);
  Shared out;
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto deadline = start + std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < tokens.size(); ++i)
    threads.emplace_back([&, i] {
      std::this_thread::sleep_until(start);
      reviewer(static_cast<int>(i), urls[i % urls.size()], tokens[i], deadline, out);
    });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  long long pairs = 0, doubles = 0, consensus = 0;
  for (const auto& [task, who] : out.holders) {
    pairs += static_cast<long long>(who.size());
    if (who.size() < 2) continue;
    const long long allowed = reviews_required(urls[0], tokens[0], task);
    std::set<int> seen;
    for (std::size_t k = 0; k < who.size(); ++k) {
      const bool again = !seen.insert(who[k]).second;
      if (again || static_cast<long long>(k) >= allowed) ++doubles;
      else if (k > 0) ++consensus;
    }
  }
  pairs -= static_cast<long long>(std::count_if(out.errors.begin(), out.errors.end(),
                                                [](const std::string& e) { return e.rfind("outcome", 0) == 0; }));
  std::sort(out.claim_ms.begin(), out.claim_ms.end());
  const auto pct = [&](double q) {
    return out.claim_ms.empty() ? 0.0 : out.claim_ms[std::min(out.claim_ms.size() - 1, static_cast<std::size_t>(out.claim_ms.size() * q))];
  };
  std::printf("reviewers=%zu pairs_s=%.0f claim_p50_ms=%.2f claim_p99_ms=%.2f pairs=%lld double_claims=%lld "
              "consensus_second_claims=%lld errors=%zu empty=%lld\n",
              tokens.size(), pairs / elapsed, pct(0.5), pct(0.99), pairs, doubles, consensus, out.errors.size(), out.empty);
  for (std::size_t i = 0; i < out.errors.size() && i < 5; ++i) std::fprintf(stderr, "  error: %s\n", out.errors[i].c_str());
  return 0;
}
