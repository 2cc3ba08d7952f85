#pragma once
// HTTP/1.1 server on Boost.Beast/Asio: transport only (keep-alive, body limit, timeouts,
// connection cap). Routing, auth and JSON live in the service layer; this header pulls in no
// Beast headers.
#include "http/transport_event.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hitl::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw target, e.g. "/v1/review/next?domain=x"
  std::string path;    // percent-decoded path without the query
  std::map<std::string, std::string> query;  // decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Set when making the reply is work (a JSON body) and the thread answering should not do it:
  // it runs on the connection's I/O thread just before the write. A claim or a submit is answered
  // from the writer's after-commit callback, which every commit waits for (issue 19). Its status,
  // body and content type are the reply's; its headers are added to these; an exception is a 500.
  std::function<Response()> build;
};

// Call exactly once, from any thread; the server writes the reply on the connection's strand.
using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Respond)>;


struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = pick a free port (see Server::port())
  int threads = 2;
  std::size_t max_body_bytes = 8u << 20;  // larger bodies get 413 with a JSON error
  // Open connections. At the cap a new connection first reclaims the connection that has waited
  // longest for its next request header; when every connection is busy it gets 503
  // too_many_connections (Retry-After, Connection: close). 0 = no cap.
  int max_connections = 1024;
  int header_timeout_seconds = 10;  // from connect or the last reply to a complete header; <= 0: none
  int idle_timeout_seconds = 60;    // a body read or reply write making no progress; <= 0: none
  // Called for every TransportEvent, from an I/O thread; must be cheap and must not throw.
  std::function<void(TransportEvent)> on_event;
};

// The process's open-file limit. raise_fd_limit() lifts the soft limit to the hard one, because
// each connection costs a descriptor and the default soft limit (often 1024) is below what the
// connection cap allows.
struct FdLimit {
  std::uint64_t soft_before = 0, soft = 0, hard = 0;  // soft: after the raise
  bool raised = false;
};
FdLimit raise_fd_limit();

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // stops and joins
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();               // binds (throws std::runtime_error with the address on failure)
  std::uint16_t port() const; // the bound port, after start()
  void stop();                // stops accepting, closes connections, joins the threads

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hitl::http
