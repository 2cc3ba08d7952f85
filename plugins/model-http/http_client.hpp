#pragma once
// model-http: a synchronous HTTP/1.1 POST client with a small keep-alive connection pool.
// Beast/Asio stay in http_client.cpp.
#include "config.hpp"

#include <memory>
#include <string>

namespace hitl::model_http {

struct HttpReply {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(const Config& config);  // keeps a reference: config must outlive the client
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One attempt: POSTs `body` to the configured endpoint and reads the whole reply, all within
  // timeout_ms. Any HTTP status is a success here (the caller judges it). Transport failures
  // (resolve, connect, write, read, timeout) return Code::unavailable with a one-line message.
  // Thread-safe: concurrent calls use different connections.
  sdk::Status post(const std::string& body, HttpReply& out) noexcept;

  // Connections opened so far (for tests and diagnostics).
  std::size_t connections_opened() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hitl::model_http
