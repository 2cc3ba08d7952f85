// HTTP/1.1 transport on Boost.Beast: one io_context run by N threads, one strand per connection.
//
// Lifetime rules (the subtle part):
//  - The server's session registry owns every live connection. A Respond callback holds only a
//    weak_ptr to its connection plus a shared_ptr to `Core`, so a Respond kept by a background
//    thread (e.g. a group-commit writer) after the server is gone never touches a dead io_context:
//    it takes Core's mutex, sees `running == false` and drops the reply.
//  - stop() flips `running` under that mutex first, so no post races with the io_context's
//    destruction.
//  - A connection reads its next request only after the reply to the current one is written,
//    which keeps pipelined replies in request order without a reply queue.
//
// Resource limits (docs/operations.md, "Connections"): a connection must send a complete request
// header within header_timeout_seconds (from connect or its last reply), which also bounds idle
// keep-alive; body reads and reply writes are bounded by idle_timeout_seconds. At
// max_connections the acceptor reclaims the connection that has waited longest for a request
// header (like nginx reusing keep-alive connections), so a new client such as a health check is
// served even while idle sockets hold every slot; only when all connections are mid-request does
// the new one get 503 too_many_connections.
#include "http/server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <sys/resource.h>

namespace hitl::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::uint32_t kHeaderLimit = 16 * 1024;  // request line + headers
constexpr auto kLingerTime = std::chrono::seconds(3);  // drain unread input before closing
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);  // after accept() fails (EMFILE, ...)
// A refused connection holds a descriptor while its 503 is written and drained; past this many
// at once a further one is closed without an answer, so refusing cannot itself exhaust the fds.
constexpr int kMaxRefusing = 64;
constexpr auto kRefusalLinger = std::chrono::seconds(1);

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

Response error_reply(int status, std::string_view code, std::string_view message) {
  Response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":\"" + json_escape(code) + "\",\"message\":\"" + json_escape(message) +
           "\",\"field\":null}}";
  return r;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; '+' becomes a space only in query strings. Returns nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return false;
    if (i + static_cast<std::size_t>(len) > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += static_cast<std::size_t>(len);
  }
  return true;
}

// Splits the target into path and query; false (with `why`) when an escape is malformed or a
// decoded path, key or value is not UTF-8 (handlers put them in JSON, which must be UTF-8).
bool decode_target(std::string_view target, Request& req, std::string& why) {
  auto qpos = target.find('?');
  auto raw_path = target.substr(0, qpos);
  auto path = percent_decode(raw_path, false);
  if (!path) {
    why = "invalid percent-encoding in request path";
    return false;
  }
  if (!valid_utf8(*path)) {
    why = "request path is not valid UTF-8";
    return false;
  }
  req.path = std::move(*path);
  if (qpos == std::string_view::npos) return true;
  auto query = target.substr(qpos + 1);
  if (auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                              : percent_decode(pair.substr(eq + 1), true);
    // The raw key goes into the message only when it is UTF-8 itself (the body must stay UTF-8).
    const std::string shown = valid_utf8(pair.substr(0, eq)) ? std::string(pair.substr(0, eq)) : "?";
    if (!key || !value) {
      why = "invalid percent-encoding in query parameter '" + shown + "'";
      return false;
    }
    if (!valid_utf8(*key) || !valid_utf8(*value)) {
      why = "query parameter '" + shown + "' is not valid UTF-8";
      return false;
    }
    req.query.emplace(std::move(*key), std::move(*value));  // the first occurrence wins
  }
  return true;
}

std::string str(beast::string_view s) { return std::string(s.data(), s.size()); }

std::string lower(beast::string_view s) {
  std::string out = str(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Session;

// State shared between the server, its connections and any outstanding Respond callbacks.
struct Core {
  Core(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}
  const ServerOptions options;
  const Handler handler;
  std::mutex mutex;
  // Written under mutex; ReplySlot reads it under mutex (so stop() cannot slip in between its
  // check and its post), io threads read it lock-free as a hint to wind down.
  std::atomic<bool> running{false};
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions;  // guarded by mutex
  int refusing = 0;    // sessions in `sessions` only answering 503 too_many_connections; under mutex
  int reclaiming = 0;  // sessions in `sessions` picked for reclaim, not yet closed; under mutex

  void event(TransportEvent e) const {
    if (options.on_event) options.on_event(e);
  }
};

// One reply slot per request: the Respond callback shares it; its destructor answers 500 if
// nobody responded.
struct ReplySlot {
  std::shared_ptr<Core> core;
  std::weak_ptr<Session> session;
  std::atomic<bool> done{false};

  ReplySlot(std::shared_ptr<Core> c, std::weak_ptr<Session> s) : core(std::move(c)), session(std::move(s)) {}
  ~ReplySlot() {
    if (!done.load()) deliver(error_reply(500, "internal", "no response produced"));
  }
  // Returns false when a reply was already delivered (a second call is ignored).
  bool complete(Response r) {
    if (done.exchange(true)) return false;
    deliver(std::move(r));
    return true;
  }

 private:
  void deliver(Response r);
};

// A reply the handler built that cannot go on the wire as is (checked so a handler bug becomes a
// 500 instead of an exception on an io thread or a header injection).
std::optional<std::string> invalid_reply(const Response& r) {
  if (r.status < 100 || r.status > 599) return "handler produced invalid HTTP status " + std::to_string(r.status);
  auto bad_value = [](std::string_view v) { return v.find_first_of(std::string_view("\r\n\0", 3)) != v.npos; };
  auto bad_name = [](std::string_view n) {
    return n.empty() || std::any_of(n.begin(), n.end(), [](unsigned char c) {
             return c <= 32 || c >= 127 || std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos;
           });
  };
  if (bad_value(r.content_type)) return std::string("handler produced an invalid Content-Type");
  for (auto& [name, value] : r.headers)
    if (bad_name(name) || bad_value(value)) return "handler produced an invalid response header '" + name + "'";
  return std::nullopt;
}

// The reply a Response::build makes, with the headers already set on `r` (security headers).
Response built(Response r) {
  Response out;
  try {
    out = r.build();
  } catch (const std::exception& e) {
    out = error_reply(500, "internal", std::string("building the reply failed: ") + e.what());
  }
  out.build = nullptr;
  out.headers.insert(out.headers.begin(), r.headers.begin(), r.headers.end());
  return out;
}

// Where a connection is; the acceptor reads it (from another thread) to pick a connection to
// reclaim, so it is atomic.
enum class Phase {
  awaiting_header,  // new, or between requests: nothing of a request handled yet
  reading_body,
  handling,         // the handler has the request
  writing,
  closing,
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Core> core)
      : stream_(std::move(socket)), core_(std::move(core)), options_(core_->options) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // Answers 503 too_many_connections without reading a request, then closes.
  void refuse() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->core_->event(TransportEvent::too_many_connections);
      self->close_after_reply_ = true;
      self->linger_ = true;
      auto r = error_reply(503, "too_many_connections",
                           "the server is at max_connections (" + std::to_string(self->options_.max_connections) +
                               ") and every connection is busy: retry later");
      r.headers.emplace_back("Retry-After", "1");
      self->write(std::move(r));
    });
  }

  // The acceptor's pick to make room: closes the connection if it is still waiting for a request
  // header (a request that arrived meanwhile is served instead).
  // Posted, never dispatched: the caller holds Core::mutex, which closing takes.
  void reclaim() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ != Phase::awaiting_header || self->closed_) {
        // A request arrived meanwhile: it is served, and the connection counts as live again.
        std::lock_guard lock(self->core_->mutex);
        if (self->marked_for_reclaim && self->core_->sessions.count(self.get())) --self->core_->reclaiming;
        self->marked_for_reclaim = false;
        return;
      }
      self->core_->event(TransportEvent::connection_reclaimed);
      self->close_now();
    });
  }

  // Before the session is registered: it will only answer 503 (see refuse()) and is never reclaimed.
  void mark_refusal() {
    refusal_ = true;
    phase_ = Phase::writing;
  }

  // The acceptor's view, under Core::mutex.
  bool reclaimable() const { return phase_.load(std::memory_order_relaxed) == Phase::awaiting_header && !marked_for_reclaim; }
  std::chrono::steady_clock::time_point waiting_since() const { return waiting_since_.load(std::memory_order_relaxed); }
  bool marked_for_reclaim = false;  // the acceptor picked it; under Core::mutex

  // Called on the strand (posted by ReplySlot).
  void write(Response r) {
    if (!running()) return close_now();
    phase_ = Phase::writing;
    if (r.build) r = built(std::move(r));
    if (auto problem = invalid_reply(r)) r = error_reply(500, "internal", *problem);
    res_.emplace();
    auto& res = *res_;
    res.version(request_version_);
    res.result(static_cast<unsigned>(r.status));
    res.set(bhttp::field::server, "hitl");
    for (auto& [name, value] : r.headers) res.insert(name, value);
    bool keep_alive = request_keep_alive_ && !close_after_reply_;
    res.keep_alive(keep_alive);
    // RFC 9110: 1xx, 204 and 304 carry no body (and 1xx/204 no Content-Length).
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (!bodiless) {
      if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
      if (request_is_head_) {
        res.content_length(r.body.size());  // HEAD: advertise the length, send no body
      } else {
        res.body() = std::move(r.body);
        res.content_length(res.body().size());
      }
    }
    arm_idle_timer();
    bhttp::async_write(stream_, res,
                       beast::bind_front_handler(&Session::on_write, shared_from_this(), !keep_alive));
  }

  auto executor() { return stream_.get_executor(); }

  // Called by Server::stop() once no io thread runs any more.
  void force_close() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

 private:
  bool running() const { return core_->running.load(std::memory_order_relaxed); }

  // Bounds the next read or write; a limit <= 0 means no timeout.
  void arm_timer(int seconds) {
    if (seconds > 0)
      stream_.expires_after(std::chrono::seconds(seconds));
    else
      stream_.expires_never();
  }
  void arm_idle_timer() { arm_timer(options_.idle_timeout_seconds); }

  void read_header() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    waiting_since_ = std::chrono::steady_clock::now();
    phase_ = Phase::awaiting_header;
    // One deadline for the whole header, however slowly it trickles in (slowloris).
    arm_timer(options_.header_timeout_seconds);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    phase_ = Phase::reading_body;
    auto& msg = parser_->get();
    remember_request(msg);
    // Clients such as curl wait for "100 Continue" before sending a large body.
    if (!parser_->is_done() && beast::iequals(msg[bhttp::field::expect], "100-continue")) {
      continue_.emplace(bhttp::status::continue_, msg.version());
      bhttp::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->close_now();
        self->read_body();
      });
      return;
    }
    if (parser_->is_done()) return dispatch_request();
    read_body();
  }

  void read_body() {
    arm_idle_timer();
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->dispatch_request();
    });
  }

  void remember_request(const bhttp::request<bhttp::string_body>& msg) {
    request_version_ = msg.version();
    request_keep_alive_ = msg.keep_alive();
    request_is_head_ = msg.method() == bhttp::verb::head;
  }

  void on_read_error(beast::error_code ec) {
    if (ec == beast::error::timeout && running())
      core_->event(phase_ == Phase::awaiting_header ? TransportEvent::header_timeout : TransportEvent::idle_timeout);
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == bhttp::error::partial_message || !running())
      return close_now();
    if (ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category())
      return close_now();  // socket errors: nobody to answer
    // The request was not fully read: answer, then close (draining what the client still sends).
    close_after_reply_ = true;
    linger_ = true;
    if (ec == bhttp::error::body_limit) {
      request_keep_alive_ = false;
      core_->event(TransportEvent::payload_too_large);
      return write(error_reply(413, "payload_too_large",
                               "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      core_->event(TransportEvent::header_too_large);
      return write(error_reply(431, "header_too_large",
                               "request header exceeds " + std::to_string(kHeaderLimit) + " bytes"));
    }
    core_->event(TransportEvent::bad_request);
    write(error_reply(400, "bad_request", "malformed HTTP request: " + ec.message()));
  }

  void dispatch_request() {
    if (!running()) return close_now();
    phase_ = Phase::handling;
    auto msg = parser_->release();
    parser_.reset();
    Request req;
    req.method = str(msg.method_string());
    req.target = str(msg.target());
    std::string why;
    if (!decode_target(req.target, req, why)) {
      close_after_reply_ = true;
      core_->event(TransportEvent::bad_request);
      return write(error_reply(400, "bad_request", why));
    }
    for (auto& field : msg) {
      auto name = lower(field.name_string());
      auto [it, inserted] = req.headers.try_emplace(std::move(name), str(field.value()));
      if (!inserted) (it->second += ", ") += str(field.value());  // RFC 9110 field combining
    }
    req.body = std::move(msg.body());

    auto slot = std::make_shared<ReplySlot>(core_, weak_from_this());
    Respond respond = [slot](Response r) { slot->complete(std::move(r)); };
    try {
      core_->handler(std::move(req), std::move(respond));
    } catch (const std::exception& e) {
      slot->complete(error_reply(500, "internal", std::string("request handler failed: ") + e.what()));
    } catch (...) {
      slot->complete(error_reply(500, "internal", "request handler failed"));
    }
    // Dropping our reference here fires the "no response produced" reply if the handler dropped its.
  }

  void on_write(bool close, beast::error_code ec, std::size_t) {
    res_.reset();
    if (ec == beast::error::timeout && running()) core_->event(TransportEvent::idle_timeout);
    if (ec || !running()) return close_now();
    if (!close) return read_header();
    if (linger_) return linger();
    close_now();
  }

  // The client may still be sending a body we refused. Closing with unread input makes the kernel
  // send RST, which can destroy our reply before the client reads it; so half-close and drain.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(refusal_ ? kRefusalLinger : kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->running()) return self->close_now();
      self->drain();
    });
  }

  void close_now() {
    if (closed_) return;  // an aborted read calls back here after reclaim() closed the socket
    closed_ = true;
    phase_ = Phase::closing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    std::lock_guard lock(core_->mutex);
    // The registry's reference; pending handlers may still hold one. stop() may have taken the
    // registry already, so only count down what is still registered.
    if (core_->sessions.erase(this)) {
      if (refusal_) --core_->refusing;
      if (marked_for_reclaim) --core_->reclaiming;
    }
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Core> core_;
  const ServerOptions& options_;  // lives in core_
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  std::array<char, 8192> drain_buffer_{};
  unsigned request_version_ = 11;
  bool request_keep_alive_ = true;
  bool request_is_head_ = false;
  bool close_after_reply_ = false;
  bool linger_ = false;
  bool refusal_ = false;  // set before the session is registered, read-only afterwards
  bool closed_ = false;
  std::atomic<Phase> phase_{Phase::awaiting_header};
  std::atomic<std::chrono::steady_clock::time_point> waiting_since_{std::chrono::steady_clock::now()};
};

void ReplySlot::deliver(Response r) {
  // Under the mutex so that stop() cannot destroy the io_context between the check and the post.
  // (Posting from the handler's own io thread is cheap: Asio queues it thread-locally. An inline
  // write for that case measured no faster.)
  std::lock_guard lock(core->mutex);
  if (!core->running) return;
  auto s = session.lock();
  if (!s) return;
  net::post(s->executor(), [s, r = std::move(r)]() mutable { s->write(std::move(r)); });
}

}  // namespace

struct Server::Impl {
  explicit Impl(ServerOptions options, Handler handler)
      : threads(std::max(1, options.threads)),
        core(std::make_shared<Core>(std::move(options), std::move(handler))),
        ioc(threads),
        acceptor(net::make_strand(ioc)),
        retry(acceptor.get_executor()) {}

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) return on_accept_error();
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // replies are single writes: no Nagle delay
      auto session = std::make_shared<Session>(std::move(socket), core);
      switch (admit(session)) {
        case Admission::admitted: session->start(); break;
        case Admission::refused: session->refuse(); break;
        case Admission::dropped: break;  // the socket closes with the session
      }
      accept();
    });
  }

  // e.g. EMFILE: the pending connection stays in the listen backlog. Free a descriptor by
  // reclaiming an idle connection, and retry after a pause instead of spinning.
  void on_accept_error() {
    core->event(TransportEvent::accept_failed);
    {
      std::lock_guard lock(core->mutex);
      if (auto* victim = pick_reclaim_locked()) victim->reclaim();
    }
    retry.expires_after(kAcceptRetry);
    retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) accept();
    });
  }

  enum class Admission { admitted, refused, dropped };

  // Registers a new connection, keeping the count of live connections within max_connections.
  Admission admit(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(core->mutex);
    if (!core->running) return Admission::dropped;
    const int cap = core->options.max_connections;
    const int live = static_cast<int>(core->sessions.size()) - core->refusing - core->reclaiming;
    if (cap > 0 && live >= cap) {
      if (auto* victim = pick_reclaim_locked()) {
        victim->reclaim();  // closes on its own strand; the newcomer takes its slot now
      } else if (core->refusing < kMaxRefusing) {
        session->mark_refusal();
        ++core->refusing;
        core->sessions.emplace(session.get(), session);
        return Admission::refused;
      } else {
        core->event(TransportEvent::too_many_connections);
        return Admission::dropped;
      }
    }
    core->sessions.emplace(session.get(), session);
    return Admission::admitted;
  }

  // The connection that has waited longest for a request header, marked so it is picked once;
  // nullptr when every connection is mid-request. A scan, but only at the cap or on EMFILE.
  Session* pick_reclaim_locked() {
    Session* oldest = nullptr;
    for (auto& [ptr, _] : core->sessions)
      if (ptr->reclaimable() && (!oldest || ptr->waiting_since() < oldest->waiting_since())) oldest = ptr;
    if (oldest) {
      oldest->marked_for_reclaim = true;
      ++core->reclaiming;
    }
    return oldest;
  }

  std::string address() const {
    auto& host = core->options.host;
    auto port_text = std::to_string(core->options.port);
    return host.find(':') != std::string::npos ? "[" + host + "]:" + port_text : host + ":" + port_text;
  }

  const int threads;
  std::shared_ptr<Core> core;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer retry;
  std::vector<std::thread> workers;
  std::uint16_t bound_port = 0;
  bool started = false;
  bool stopped = false;
};

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {
  if (!impl_->core->handler) throw std::invalid_argument("http::Server: the request handler is empty");
}

Server::~Server() { stop(); }

void Server::start() {
  auto& im = *impl_;
  if (im.started) throw std::logic_error("http::Server::start: already started");
  const auto& o = im.core->options;
  try {
    tcp::endpoint endpoint;
    beast::error_code ec;
    auto address = net::ip::make_address(o.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, o.port);
    } else {
      tcp::resolver resolver(im.ioc);
      auto results = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive);
      endpoint = results.begin()->endpoint();
    }
    im.acceptor.open(endpoint.protocol());
    im.acceptor.set_option(net::socket_base::reuse_address(true));
    im.acceptor.bind(endpoint);
    im.acceptor.listen(net::socket_base::max_listen_connections);
    im.bound_port = im.acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    beast::error_code ignored;
    im.acceptor.close(ignored);
    throw std::runtime_error("http server cannot listen on " + im.address() + ": " + e.code().message());
  }
  im.started = true;
  {
    std::lock_guard lock(im.core->mutex);
    im.core->running = true;
  }
  net::dispatch(im.acceptor.get_executor(), [&im] { im.accept(); });
  im.workers.reserve(static_cast<std::size_t>(im.threads));
  for (int i = 0; i < im.threads; ++i) im.workers.emplace_back([&im] { im.ioc.run(); });
}

std::uint16_t Server::port() const { return impl_->bound_port; }

const char* event_name(TransportEvent e) {
  switch (e) {
    case TransportEvent::bad_request: return "bad_request";
    case TransportEvent::payload_too_large: return "payload_too_large";
    case TransportEvent::header_too_large: return "header_too_large";
    case TransportEvent::too_many_connections: return "too_many_connections";
    case TransportEvent::header_timeout: return "header_timeout";
    case TransportEvent::idle_timeout: return "idle_timeout";
    case TransportEvent::connection_reclaimed: return "connection_reclaimed";
    case TransportEvent::accept_failed: return "accept_failed";
  }
  return "unknown";
}

FdLimit raise_fd_limit() {
  FdLimit out;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return out;
  out.soft_before = out.soft = lim.rlim_cur;
  out.hard = lim.rlim_max;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      out.soft = raised.rlim_cur;
      out.raised = true;
    }
  }
  return out;
}

void Server::stop() {
  auto& im = *impl_;
  if (!im.started || im.stopped) return;
  im.stopped = true;
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions;
  {
    // From here on, Respond callbacks drop their replies instead of posting.
    std::lock_guard lock(im.core->mutex);
    im.core->running = false;
  }
  im.ioc.stop();
  for (auto& t : im.workers) t.join();
  im.workers.clear();
  // No io thread runs now, so sockets may be touched from this thread.
  beast::error_code ignored;
  im.acceptor.close(ignored);
  im.retry.cancel();
  {
    std::lock_guard lock(im.core->mutex);
    sessions.swap(im.core->sessions);
  }
  for (auto& [_, session] : sessions) session->force_close();
  sessions.clear();
  // Let the aborted operations complete so their handlers release the connections now.
  im.ioc.restart();
  im.ioc.poll();
}

}  // namespace hitl::http
