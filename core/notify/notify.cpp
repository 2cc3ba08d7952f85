// Long-poll waiters and webhook deliveries; see notify.hpp for the design.
#include "notify/notify.hpp"

#include "common/clock.hpp"
#include "common/hash.hpp"
#include "review/review.hpp"
#include "common/service_error.hpp"
#include "store/writer.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace hitl::service {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;

constexpr auto kTick = std::chrono::milliseconds(50);         // waiter deadlines
constexpr auto kDeliveryPoll = std::chrono::milliseconds(200);  // due deliveries
constexpr std::size_t kDeliveryBatch = 100;


struct Url {
  std::string authority;  // host[:port] as written (the Host header)
  std::string host, port, target;
};

// http://host[:port][/path][?query] (the config accepts only http:// URLs).
std::optional<Url> parse_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return std::nullopt;
  std::string rest = url.substr(scheme.size());
  if (auto hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);
  const auto end = rest.find_first_of("/?");
  Url u;
  u.authority = rest.substr(0, end);
  u.target = end == std::string::npos ? "/" : rest.substr(end);
  if (u.target[0] == '?') u.target.insert(0, "/");
  if (u.authority.empty() || u.authority.find('@') != std::string::npos) return std::nullopt;
  std::string hostport = u.authority;
  if (hostport[0] == '[') {  // [v6]:port
    auto close = hostport.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return std::nullopt;
      u.port = hostport.substr(close + 2);
    }
  } else if (auto colon = hostport.rfind(':'); colon != std::string::npos) {
    u.host = hostport.substr(0, colon);
    u.port = hostport.substr(colon + 1);
  } else {
    u.host = hostport;
  }
  if (u.port.empty()) u.port = "80";
  if (u.host.empty() || u.port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return u;
}

// Uniform in [0, 1): the jitter.
double unit_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

struct Notifier::Waiter {
  std::string domain;
  std::vector<std::string> ids;     // as given to wait(); may repeat
  std::vector<std::string> keys;    // distinct ids, each registered once in by_key_
  std::vector<std::optional<sdk::DecisionRecord>> decisions;
  std::size_t remaining = 0;        // keys not final yet
  Clock::time_point started;
  std::multimap<Clock::time_point, std::shared_ptr<Waiter>>::iterator at;
  Complete done;
  std::shared_ptr<Slot> slot;
};

Notifier::Slot::~Slot() {
  std::lock_guard lock(n_.mu_);
  --n_.slots_;
}

Notifier::Notifier(const config::ServiceConfig& cfg, sdk::Storage& storage, Writer& writer)
    : cfg_(cfg), storage_(storage), writer_(writer) {
  if (const char* env = std::getenv("HITL_WEBHOOK_BACKOFF_MS"); env && *env) {
    std::int64_t v = 0;
    const std::string_view s(env);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && v >= 1 && v <= 600000) {
      backoff_base_ms_ = v;
      spdlog::warn("HITL_WEBHOOK_BACKOFF_MS={}: webhook retries start after {} ms (a test setting)", v, v);
    } else {
      spdlog::warn("HITL_WEBHOOK_BACKOFF_MS=\"{}\" ignored: expected an integer in 1..600000", env);
    }
  }
}

Notifier::~Notifier() { stop(); }

std::int64_t Notifier::parse_wait_ms(std::string_view text, std::int64_t max_seconds) {
  auto bad = [&] {
    return ServiceError(422, "invalid_field",
                        "wait: expected a duration such as 30s, 30 (seconds) or 500ms, got \"" + std::string(text) + "\"",
                        "wait");
  };
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p == text.data() || n < 0) throw bad();
  const std::string_view unit(p, static_cast<std::size_t>(text.data() + text.size() - p));
  std::int64_t ms = 0;
  if (unit.empty() || unit == "s") {
    if (n > max_seconds) ms = -1;
    else ms = n * 1000;
  } else if (unit == "ms") {
    ms = n > max_seconds * 1000 ? -1 : n;
  } else {
    throw bad();
  }
  if (ms < 0)
    throw ServiceError(422, "invalid_field",
                       "wait: at most " + std::to_string(max_seconds) + "s (max_wait_seconds), got \"" + std::string(text) + "\"",
                       "wait");
  return ms;
}

std::shared_ptr<Notifier::Slot> Notifier::reserve() {
  {
    std::lock_guard lock(mu_);
    if (slots_ >= kMaxWaiters) return nullptr;
    ++slots_;
  }
  return std::make_shared<Slot>(*this);
}

std::size_t Notifier::waiting() const {
  std::lock_guard lock(mu_);
  return by_deadline_.size();
}

void Notifier::wait(std::shared_ptr<Slot> slot, const std::string& domain, std::vector<std::string> ids,
                    std::int64_t wait_ms, Complete done) {
  auto w = std::make_shared<Waiter>();
  w->domain = domain;
  w->ids = std::move(ids);
  w->keys = w->ids;
  std::sort(w->keys.begin(), w->keys.end());
  w->keys.erase(std::unique(w->keys.begin(), w->keys.end()), w->keys.end());
  w->decisions.resize(w->ids.size());
  w->remaining = w->keys.size();
  w->started = Clock::now();
  w->done = std::move(done);
  w->slot = std::move(slot);
  bool registered = false;
  {
    std::lock_guard lock(mu_);
    if (running_ && !stopping_ && w->remaining > 0 && wait_ms > 0) {
      w->at = by_deadline_.emplace(w->started + std::chrono::milliseconds(wait_ms), w);
      for (auto& id : w->keys) {
        by_key_[{domain, id}].push_back(w);
        recheck_.push_back({domain, id});  // final between the caller's read and now?
      }
      registered = true;
    }
  }
  if (registered) {
    timer_cv_.notify_one();
    return;
  }
  std::vector<std::shared_ptr<Waiter>> now{std::move(w)};
  finish(now, /*timed_out=*/true);  // (finish reports timed_out only if something is still pending)
}

void Notifier::unregister(const std::shared_ptr<Waiter>& w) {
  for (auto& id : w->keys) {
    auto it = by_key_.find({w->domain, id});
    if (it == by_key_.end()) continue;  // resolved already
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), w), v.end());
    if (v.empty()) by_key_.erase(it);
  }
  by_deadline_.erase(w->at);
}

void Notifier::resolve(const sdk::DecisionRecord& decision) {
  std::vector<std::shared_ptr<Waiter>> done;
  {
    std::lock_guard lock(mu_);
    auto it = by_key_.find({decision.domain, decision.id});
    if (it == by_key_.end()) return;
    for (auto& w : it->second) {
      for (std::size_t i = 0; i < w->ids.size(); ++i)
        if (w->ids[i] == decision.id) w->decisions[i] = decision;
      if (--w->remaining == 0) {
        by_deadline_.erase(w->at);
        done.push_back(w);
      }
    }
    by_key_.erase(it);
  }
  finish(done, false);
}

// Answers waiters that left the registry (so each is answered once: only the one who removed it
// gets here with it). For a timeout, the decisions not seen final are read again from storage.
void Notifier::finish(std::vector<std::shared_ptr<Waiter>>& done, bool timed_out) {
  for (auto& w : done) {
    WaitResult r;
    r.waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - w->started).count();
    if (timed_out) {
      for (std::size_t i = 0; i < w->ids.size(); ++i) {
        if (w->decisions[i] && !w->decisions[i]->final_outcome.empty()) continue;
        std::optional<sdk::DecisionRecord> d;
        auto st = storage_.get_decision(w->domain, w->ids[i], d);
        if (!st.ok()) spdlog::warn("wait: cannot read decision domain={} decision={}: {}", w->domain, w->ids[i], st.message);
        w->decisions[i] = st.ok() ? std::move(d) : std::nullopt;
        if (!w->decisions[i] || awaiting_review(*w->decisions[i])) r.timed_out = true;
      }
    }
    r.decisions = std::move(w->decisions);
    try {
      if (w->done) w->done(r);
    } catch (const std::exception& e) {
      // The reply callback, dropped unanswered, answers 500 itself.
      spdlog::error("wait: answering domain={} failed: {}", w->domain, e.what());
    }
    w->done = nullptr;  // releases the reply callback now
    w->slot.reset();
  }
  done.clear();
}

FinalHooks Notifier::hooks() {
  FinalHooks h;
  h.delivery_for = [this](const sdk::DecisionRecord& d) { return delivery_for(d); };
  h.on_final = [this](const sdk::DecisionRecord& d) { on_final(d); };
  return h;
}

std::optional<sdk::DeliveryRecord> Notifier::delivery_for(const sdk::DecisionRecord& d) const {
  auto it = cfg_.domains.find(d.domain);
  if (it == cfg_.domains.end() || it->second.webhook_url.empty()) return std::nullopt;
  // delivery_id and attempt are added to the body at each attempt.
  json payload = {{"event", "decision.final"},
                  {"domain", d.domain},
                  {"id", d.id},
                  {"status", d.status},
                  {"label", d.label},
                  {"confidence", d.confidence},
                  {"final_label", d.final_label},
                  {"final_outcome", d.final_outcome},
                  {"reviewed_ms", d.final_ms}};
  payload["task_id"] = d.task_id ? json(d.task_id) : json(nullptr);
  sdk::DeliveryRecord r;
  r.domain = d.domain;
  r.decision_id = d.id;
  r.event = "decision.final";
  r.url = it->second.webhook_url;
  r.payload_json = payload.dump();
  r.status = "pending";
  r.created_ms = d.final_ms ? d.final_ms : now_ms();
  r.next_attempt_ms = r.created_ms;
  return r;
}

void Notifier::on_final(const sdk::DecisionRecord& decision) {
  resolve(decision);
  auto it = cfg_.domains.find(decision.domain);
  if (it != cfg_.domains.end() && !it->second.webhook_url.empty()) {
    {
      std::lock_guard lock(mu_);
      nudged_ = true;
    }
    delivery_cv_.notify_one();
  }
}

bool Notifier::has_webhooks() const {
  return std::any_of(cfg_.domains.begin(), cfg_.domains.end(), [](auto& d) { return !d.second.webhook_url.empty(); });
}

void Notifier::start() {
  std::lock_guard lock(mu_);
  if (running_ || stopping_) return;
  running_ = true;
  timer_ = std::thread([this] { timer_loop(); });
  // Without a webhook in the config, rows left pending by an earlier config wait until one is
  // configured again.
  if (has_webhooks()) delivery_ = std::thread([this] { delivery_loop(); });
}

void Notifier::stop() {
  std::vector<std::shared_ptr<Waiter>> all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    running_ = false;
    for (auto& [_, w] : by_deadline_) all.push_back(w);
    by_deadline_.clear();
    by_key_.clear();
    recheck_.clear();
    if (active_io_) static_cast<net::io_context*>(active_io_)->stop();
  }
  timer_cv_.notify_all();
  delivery_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  if (delivery_.joinable()) delivery_.join();
  if (all.empty()) return;
  spdlog::info("stopping: answering {} waiting requests", all.size());
  finish(all, true);
  // The replies are written by the HTTP threads: give them a moment before the server stops.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void Notifier::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    timer_cv_.wait_for(lock, kTick, [&] { return stopping_ || !recheck_.empty(); });
    if (stopping_) break;
    std::vector<Key> keys;
    keys.swap(recheck_);
    std::vector<std::shared_ptr<Waiter>> expired;
    const auto now = Clock::now();
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      auto w = by_deadline_.begin()->second;
      unregister(w);
      expired.push_back(std::move(w));
    }
    lock.unlock();
    for (auto& [domain, id] : keys) {
      std::optional<sdk::DecisionRecord> d;
      if (storage_.get_decision(domain, id, d).ok() && d && !d->final_outcome.empty()) resolve(*d);
    }
    finish(expired, true);
    lock.lock();
  }
}

std::int64_t Notifier::backoff_ms(std::int64_t failed_attempts) const {
  std::int64_t delay = backoff_base_ms_;
  for (std::int64_t i = 1; i < failed_attempts && delay < kMaxBackoffMs; ++i) delay *= 2;
  return std::min(delay, kMaxBackoffMs);
}

std::string Notifier::signature(const std::string& secret, const std::string& timestamp, const std::string& body) {
  const std::string message = timestamp + "." + body;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), md, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return "sha256=" + to_hex(md, len);
}

void Notifier::delivery_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // Whatever is due, oldest first: after a restart this resumes the deliveries left pending.
    // Among instances sharing a database only the leader delivers, so no row goes out twice
    // from two instances at once (the others' final outcomes reach it as events and nudge it).
    std::vector<sdk::DeliveryRecord> due;
    sdk::DeliveryFilter f;
    f.status = "pending";
    f.due_before_ms = now_ms();
    f.limit = kDeliveryBatch;
    auto st = leads(leadership_) ? storage_.list_deliveries(f, due) : sdk::Status::Ok();
    if (!st.ok()) spdlog::warn("webhook: cannot list due deliveries: {}", st.message);
    for (auto& d : due) {
      {
        std::lock_guard check(mu_);
        if (stopping_) return;
      }
      try {
        attempt(d);
      } catch (const std::exception& e) {
        spdlog::error("webhook delivery {} domain={} decision={}: {}", d.delivery_id, d.domain, d.decision_id, e.what());
      }
    }
    lock.lock();
    if (st.ok() && due.size() == kDeliveryBatch) continue;  // more are due
    delivery_cv_.wait_for(lock, kDeliveryPoll, [&] { return stopping_ || nudged_; });
    nudged_ = false;
  }
}

void Notifier::attempt(const sdk::DeliveryRecord& d) {
  sdk::DeliveryUpdate u;
  u.delivery_id = d.delivery_id;
  u.attempts = d.attempts + 1;
  u.next_attempt_ms = d.next_attempt_ms;
  auto it = cfg_.domains.find(d.domain);
  if (it == cfg_.domains.end() || it->second.webhook_url.empty()) {
    // The row outlived its domain's webhook (config changed): give up on it, visibly.
    u.status = "failed";
    u.attempts = d.attempts;
    u.last_error = "domain \"" + d.domain + "\" has no webhook configured any more";
    spdlog::warn("webhook delivery {} given up domain={} decision={}: {}", d.delivery_id, d.domain, d.decision_id,
                 u.last_error);
  } else {
    const auto& dc = it->second;
    json body = json::parse(d.payload_json, nullptr, false);
    if (!body.is_object()) body = json::object();
    body["delivery_id"] = d.delivery_id;
    body["attempt"] = u.attempts;
    const std::string text = body.dump();
    const std::string ts = std::to_string(now_ms());
    // The current config's URL: an operator who fixed a wrong URL gets the pending rows there.
    auto r = post(dc.webhook_url,
                  {{"X-Hitl-Event", d.event},
                   {"X-Hitl-Delivery", std::to_string(d.delivery_id)},
                   {"X-Hitl-Timestamp", ts},
                   {"X-Hitl-Signature", signature(dc.webhook_secret, ts, text)}},
                  text, dc.webhook_timeout_ms);
    const std::int64_t now = now_ms();
    if (r.status >= 200 && r.status < 300) {
      u.status = "delivered";
      u.delivered_ms = now;
      spdlog::info("webhook delivered delivery={} domain={} decision={} attempt={} status={}", d.delivery_id, d.domain,
                   d.decision_id, u.attempts, r.status);
    } else {
      u.last_error = r.status ? "HTTP " + std::to_string(r.status) : r.error;
      {
        std::lock_guard lock(mu_);
        if (stopping_) {
          // Stopped mid-attempt: not counted; the row stays as it was for the next start.
          spdlog::info("webhook delivery {} interrupted by the stop domain={} decision={}", d.delivery_id, d.domain,
                       d.decision_id);
          return;
        }
      }
      if (u.attempts >= dc.webhook_max_attempts) {
        u.status = "failed";
        spdlog::warn("webhook delivery {} failed after {} attempts, giving up domain={} decision={}: {}", d.delivery_id,
                     u.attempts, d.domain, d.decision_id, u.last_error);
      } else {
        u.status = "pending";
        const std::int64_t delay = backoff_ms(u.attempts);
        const auto jittered = delay - static_cast<std::int64_t>(static_cast<double>(delay) * 0.2 * unit_random());
        u.next_attempt_ms = now + jittered;
        spdlog::info("webhook attempt {} failed delivery={} domain={} decision={}: {}; next in {} ms", u.attempts,
                     d.delivery_id, d.domain, d.decision_id, u.last_error, jittered);
      }
    }
  }
  sdk::WriteBatch batch;
  batch.delivery_updates.push_back(std::move(u));
  auto st = writer_.submit_sync(batch);
  // The row stays pending as it was: it is attempted again (at least once delivery).
  if (!st.ok())
    spdlog::error("webhook delivery {} outcome not stored domain={} decision={}: {}", d.delivery_id, d.domain,
                  d.decision_id, st.message);
}

Notifier::PostResult Notifier::post(const std::string& url,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    const std::string& body, std::int64_t timeout_ms) {
  PostResult out;
  auto u = parse_url(url);
  if (!u) {
    out.error = "cannot read the URL \"" + url + "\" (expected http://host[:port]/path)";
    return out;
  }
  net::io_context io;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      out.error = "stopping";
      return out;
    }
    active_io_ = &io;
  }
  {
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, u->target, 11};
    req.set(bhttp::field::host, u->authority);
    req.set(bhttp::field::user_agent, "hitl-webhook");
    req.set(bhttp::field::content_type, "application/json");
    for (auto& [name, value] : headers) req.set(name, value);
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1u << 20);
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    stream.expires_after(timeout);
    resolver.async_resolve(u->host, u->port, [&](beast::error_code ec, tcp::resolver::results_type results) {
      if (ec) {
        out.error = "cannot resolve " + u->host + ": " + ec.message();
        return;
      }
      stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
        if (ec) {
          out.error = "cannot connect to " + u->authority + ": " + ec.message();
          return;
        }
        bhttp::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
          if (ec) {
            out.error = "sending the request: " + ec.message();
            return;
          }
          bhttp::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
            // The status counts even when the body is cut or too long.
            if (parser.is_header_done()) out.status = static_cast<int>(parser.get().result_int());
            else if (ec) out.error = "reading the reply: " + ec.message();
          });
        });
      });
    });
    io.run_for(timeout + std::chrono::milliseconds(50));
    if (!out.status && out.error.empty()) out.error = "no reply within " + std::to_string(timeout_ms) + " ms";
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
  }
  std::lock_guard lock(mu_);
  active_io_ = nullptr;
  return out;
}

}  // namespace hitl::service
