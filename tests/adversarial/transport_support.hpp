#pragma once
// Helpers for the transport tests: raw sockets (no HTTP client politeness), the service's config
// with transport limits, and the child's /proc figures. Header-only: the suite builds test_*.cpp.
#include "support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <chrono>
#include <cstdint>
#include <string>

namespace hitl::test {

// A plain TCP connection to 127.0.0.1:port; -1 on failure. Closed by the caller (::close).
inline int raw_connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends all of `bytes`; false once the peer has closed or reset the connection.
inline bool raw_send(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Waits up to `limit` for the peer to close (EOF or reset); returns how long it took, or
// `limit` when it did not close. Data the peer sends first is read and discarded.
inline std::chrono::milliseconds wait_closed(int fd, std::chrono::milliseconds limit) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  char buf[4096];
  for (;;) {
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    if (spent >= limit) return limit;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((limit - spent).count())) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0)
      return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
  }
}

// From /proc/<pid>/status: "VmHWM" (peak RSS) or "VmRSS", in KiB; -1 when unreadable.
inline long proc_status_kib(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Open descriptors of `pid` (entries of /proc/<pid>/fd).
inline int open_fds(int pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// The value of one Prometheus sample line, e.g. `hitl_http_errors_total` or
// `hitl_http_transport_events_total{event="header_timeout"}`; -1 when absent.
inline double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

}  // namespace hitl::test
