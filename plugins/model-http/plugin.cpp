// model-http: scores records on a remote model server over HTTP/1.1 (plain JSON or KServe v2),
// with keep-alive pooling, per-attempt timeouts, retries with exponential backoff and a
// circuit breaker. Any failure is a Status: the host then fails closed (review, model_error).
#include "breaker.hpp"
#include "codec.hpp"
#include "config.hpp"
#include "http_client.hpp"

#include <hitl/guarded.hpp>
#include <hitl/plugin_entry.hpp>

#include <algorithm>
#include <thread>

namespace hitl::model_http {

using sdk::Code;
using sdk::Status;

namespace {

// A short single-line excerpt of a reply body for error messages.
std::string excerpt(const std::string& body) {
  constexpr std::size_t kMax = 200;
  std::string s = body.substr(0, kMax);
  std::replace_if(s.begin(), s.end(), [](unsigned char c) { return c < 32 || c == 127; }, ' ');
  if (body.size() > kMax) s += "...";
  return s;
}

class HttpModel final : public sdk::Model {
 public:
  explicit HttpModel(Config config)
      : config_(std::move(config)), client_(config_), breaker_(config_.breaker_failures, config_.breaker_cooldown_ms) {}

  Status predict(const std::vector<sdk::Record>& rows, std::vector<sdk::Prediction>& out) noexcept override {
    return sdk::guarded("model-http: predict failed", [&] {
      if (rows.empty()) {
        out.clear();
        return Status::Ok();
      }
      std::string body;
      if (auto st = encode_request(config_, rows, body); !st.ok()) return st;  // the input, not the server

      long long retry_in_ms = 0;
      std::string last_error;
      const auto admit = breaker_.admit(retry_in_ms, last_error);
      if (admit == Breaker::Admit::reject)
        return Status::Error(Code::unavailable,
                             "model-http: circuit open (" + std::to_string(config_.breaker_failures) +
                                 " consecutive failures); " +
                                 (retry_in_ms > 0 ? "next trial call in " + std::to_string(retry_in_ms) + " ms"
                                                  : std::string("a trial call is in flight")) +
                                 "; last error: " + last_error);

      const bool trial = admit == Breaker::Admit::trial;
      try {
        return call_with_retries(rows.size(), body, trial, out);
      } catch (const std::exception& e) {
        // An admitted call must always report back, or a half-open breaker would never close.
        Status st = Status::Error(Code::internal, std::string("model-http: predict failed: ") + e.what());
        breaker_.failure(trial, st.message);
        return st;
      }
    });
  }

  std::string version() const noexcept override {
    try {
      return config_.version;
    } catch (...) {
      return "http-unknown";
    }
  }

 private:
  // Longest single wait between attempts, whatever backoff_ms and retries say.
  static constexpr long long kMaxBackoffMs = 30000;

  Status call_with_retries(std::size_t n, const std::string& body, bool trial, std::vector<sdk::Prediction>& out) {
    // A half-open trial is one attempt: a still-broken server should not get a retry burst.
    const int attempts = trial ? 1 : 1 + config_.retries;
    Status st;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (attempt > 1 && config_.backoff_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(
            std::min(kMaxBackoffMs, static_cast<long long>(config_.backoff_ms) << (attempt - 2))));
      Outcome outcome = Outcome::failed;
      st = call_once(n, body, out, outcome);
      if (outcome == Outcome::ok || outcome == Outcome::refused) {
        // A 4xx proves the server is up (it refused this request): it must not open the
        // circuit for everyone else, e.g. because one client sends unusable records.
        breaker_.success();
        return st;
      }
      if (outcome != Outcome::retryable) break;
      if (attempt == attempts && attempts > 1) st.message += " (after " + std::to_string(attempts) + " attempts)";
    }
    breaker_.failure(trial, st.message);
    return st;
  }

  enum class Outcome { ok, retryable, refused, failed };

  // One HTTP exchange, judged: retryable = transport failure or 5xx; refused = 4xx;
  // failed = anything else that is wrong (malformed body, unexpected status).
  Status call_once(std::size_t n, const std::string& body, std::vector<sdk::Prediction>& out, Outcome& outcome) {
    HttpReply reply;
    Status st = client_.post(body, reply);
    if (!st.ok()) {
      outcome = st.code == Code::unavailable ? Outcome::retryable : Outcome::failed;
      return st;
    }
    const std::string where = "model-http: POST " + config_.endpoint.display + ": HTTP " + std::to_string(reply.status);
    if (reply.status >= 500) {
      outcome = Outcome::retryable;
      return Status::Error(Code::unavailable, where + ": " + excerpt(reply.body));
    }
    if (reply.status >= 400) {
      outcome = Outcome::refused;
      return Status::Error(Code::internal, where + " (not retried): " + excerpt(reply.body));
    }
    outcome = Outcome::failed;
    if (reply.status < 200 || reply.status >= 300)
      return Status::Error(Code::internal, where + " is not a success status: " + excerpt(reply.body));
    std::vector<sdk::Prediction> preds;
    if (auto dst = decode_response(config_, n, reply.body, preds); !dst.ok()) return dst;
    out = std::move(preds);
    outcome = Outcome::ok;
    return Status::Ok();
  }

  const Config config_;
  HttpClient client_;
  Breaker breaker_;
};

Status create(const char* config_json, std::unique_ptr<sdk::Model>& out) {
  return sdk::guarded("model-http", [&] {
    Config config;
    if (auto st = parse_config(config_json, config); !st.ok()) return st;
    out = std::make_unique<HttpModel>(std::move(config));
    return Status::Ok();
  });
}

}  // namespace

}  // namespace hitl::model_http

HITL_PLUGIN_ENTRY(hitl::model_http, model,
    "http", "1.0.0",
    "Scores on a remote model server over HTTP/1.1 (plain JSON or KServe v2), with retries and a circuit breaker",
    kConfigDoc, &create)
