// The cluster on PostgreSQL: the leadership's advisory lock, NOTIFY and LISTEN, each on a
// connection of its own (cluster.hpp says why).
#include "cluster/cluster.hpp"

#include "pg_config.hpp"
#include "pg_publisher.hpp"
#include "pg_session.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace hitl::cluster {

namespace {

constexpr const char* kChannel = "hitl_events";
// One lock key for the whole database: every instance sharing it competes for the same lead.
constexpr const char* kTakeLead = "SELECT pg_try_advisory_lock(hashtext('hitl.leader'))";
// Every running instance holds this one shared; a starting instance alone can take it exclusively.
constexpr const char* kPresent = "SELECT pg_advisory_lock_shared(hashtext('hitl.present'))";
constexpr const char* kAloneTry = "SELECT pg_try_advisory_lock(hashtext('hitl.present'))";
constexpr const char* kAloneEnd = "SELECT pg_advisory_unlock(hashtext('hitl.present'))";
// Named locks (Cluster::lock): the two-key form, a key space apart from the one-key locks above;
// two names hashing alike only wait for each other, never both hold.
constexpr const char* kLockNamed = "SELECT pg_advisory_lock(hashtext('hitl.lock'), hashtext($1))";
constexpr const char* kUnlockNamed = "SELECT pg_advisory_unlock(hashtext('hitl.lock'), hashtext($1))";
constexpr std::size_t kIdleLockSessions = 4;  // kept open for the next locks; more are closed

std::string random_tag() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// The connections named locks are held on: a session-level advisory lock lives with its
// connection, so each hold has one to itself and gives it back when it ends. Kept alive by every
// hold, so a lock may outlive the cluster.
class LockSessions : public std::enable_shared_from_this<LockSessions> {
 public:
  explicit LockSessions(pg::PgConfig cfg) : cfg_(std::move(cfg)) {}
  std::shared_ptr<void> lock(const std::string& name);

 private:
  struct Held {
    std::unique_ptr<pg::Session> session;
    std::string name;
  };
  std::unique_ptr<pg::Session> take();  // an idle one, or nullptr
  void release(Held* held) noexcept;

  const pg::PgConfig cfg_;
  std::mutex mu_;
  std::vector<std::unique_ptr<pg::Session>> idle_;
};

std::unique_ptr<pg::Session> LockSessions::take() {
  std::lock_guard guard(mu_);
  if (idle_.empty()) return nullptr;
  auto s = std::move(idle_.back());
  idle_.pop_back();
  return s;
}

// Waits at most the storage's statement_timeout_ms for the lock (the server cancels the wait).
// An idle connection found broken (the server restarted meanwhile) is replaced by a fresh one once.
std::shared_ptr<void> LockSessions::lock(const std::string& name) {
  auto held = std::make_unique<Held>();
  held->name = name;
  held->session = take();
  auto refused = [&name](const std::exception& e) {
    return std::runtime_error("cannot take the lock \"" + name + "\" shared by the instances: " + e.what());
  };
  for (bool fresh = !held->session;; fresh = true) {
    try {
      if (fresh) held->session = std::make_unique<pg::Session>(cfg_.url, cfg_.statement_timeout_ms, cfg_.connect_timeout_s);
      pqxx::nontransaction tx(held->session->conn());
      held->session->run(tx, kLockNamed, pg::params(name));
      break;
    } catch (const pqxx::broken_connection& e) {
      if (fresh) throw refused(e);
    } catch (const std::exception& e) {
      throw refused(e);
    }
  }
  return std::shared_ptr<void>(held.release(), [keep = shared_from_this()](void* h) { keep->release(static_cast<Held*>(h)); });
}

// A connection whose unlock failed is closed: the server releases its locks with it.
void LockSessions::release(Held* held) noexcept {
  std::unique_ptr<Held> owned(held);
  try {
    pqxx::nontransaction tx(owned->session->conn());
    owned->session->run(tx, kUnlockNamed, pg::params(owned->name));
    std::lock_guard guard(mu_);
    if (idle_.size() < kIdleLockSessions) idle_.push_back(std::move(owned->session));
  } catch (const std::exception& e) {
    spdlog::warn("cluster: unlocking \"{}\" failed, its connection is closed (which releases it): {}", owned->name, e.what());
  }
}

class PgCluster final : public Cluster {
 public:
  explicit PgCluster(pg::PgConfig cfg)
      : cfg_(std::move(cfg)),
        tag_(random_tag()),
        locks_(std::make_shared<LockSessions>(cfg_)),
        publisher_(kChannel, [this] { return connect(); }) {
    leadership_.set(false);  // until refresh() takes the lock
  }
  ~PgCluster() override { stop(); }

  bool refresh() noexcept override;
  void publish(const Event& e) noexcept override;
  void listen(std::function<void(const Event&)> on_event) override;
  void stop() noexcept override;
  bool shared() const noexcept override { return true; }
  bool alone_at_start() noexcept override;
  void joined() noexcept override;
  std::shared_ptr<void> lock(const std::string& name) override { return locks_->lock(name); }

 private:
  class Receiver;
  std::unique_ptr<pg::Session> connect() const {
    return std::make_unique<pg::Session>(cfg_.url, cfg_.statement_timeout_ms, cfg_.connect_timeout_s);
  }
  // The leadership's connection, opened (and made present) when there is none; lead_mu_ held.
  pqxx::connection& lead_connection();
  void listen_loop();
  void deliver(const std::string& payload) noexcept;

  const pg::PgConfig cfg_;
  const std::string tag_;  // this instance, in each payload it sends: its own are not delivered back
  const std::shared_ptr<LockSessions> locks_;
  std::mutex lead_mu_;
  std::unique_ptr<pg::Session> lead_;
  std::atomic<std::uint64_t> sent_{0};  // this instance's events so far: each payload's seq
  bool joined_ = false, alone_held_ = false;  // lead_mu_ held
  std::mutex listen_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::function<void(const Event&)> on_event_;
  std::thread listener_;
  PgPublisher publisher_;  // last: its thread stops first, while the rest is alive
};

class PgCluster::Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, PgCluster& owner) : notification_receiver(c, kChannel), owner_(owner) {}
  void operator()(const std::string& payload, int) override { owner_.deliver(payload); }

 private:
  PgCluster& owner_;
};

// Held: the lock's connection must still be there (the server released the lock when it ended,
// and some other instance may hold it now). Not held: try to take it. Any failure drops the
// connection, and the lock with it, so this instance never believes it leads when it may not.
bool PgCluster::refresh() noexcept {
  std::lock_guard lock(lead_mu_);
  const bool was = leader();
  bool now = false;
  try {
    pqxx::nontransaction tx(lead_connection());
    now = was ? (tx.exec("SELECT 1"), true) : tx.exec(kTakeLead)[0][0].as<bool>();
  } catch (const std::exception& e) {
    if (was) spdlog::error("cluster: the leadership's connection failed, leadership given up: {}", e.what());
    lead_.reset();
    now = false;
  }
  leadership_.set(now);
  return now != was;
}

pqxx::connection& PgCluster::lead_connection() {
  if (!lead_) {
    lead_ = connect();
    alone_held_ = false;  // a new session holds nothing
    if (joined_) pqxx::nontransaction(lead_->conn()).exec(kPresent);
  }
  return lead_->conn();
}

bool PgCluster::alone_at_start() noexcept {
  std::lock_guard lock(lead_mu_);
  try {
    pqxx::nontransaction tx(lead_connection());
    alone_held_ = tx.exec(kAloneTry)[0][0].as<bool>();
    return alone_held_;
  } catch (const std::exception& e) {
    spdlog::warn("cluster: cannot tell whether other instances run (taken as yes): {}", e.what());
    lead_.reset();
    return false;
  }
}

void PgCluster::joined() noexcept {
  std::lock_guard lock(lead_mu_);
  joined_ = true;
  try {
    const bool fresh = !lead_;
    pqxx::nontransaction tx(lead_connection());  // a fresh one takes the shared lock itself
    if (!fresh) tx.exec(kPresent);
    if (alone_held_) tx.exec(kAloneEnd);
    alone_held_ = false;
  } catch (const std::exception& e) {
    spdlog::warn("cluster: presence not recorded yet (again with the leadership's connection): {}", e.what());
    lead_.reset();
  }
}

void PgCluster::publish(const Event& e) noexcept {
  try {
    std::string payload = encode(e, tag_, ++sent_);
    if (payload.size() > kMaxPayload) {
      spdlog::warn("cluster: event for decision of {} bytes not sent (NOTIFY holds under 8000)", payload.size());
      return;
    }
    publisher_.post(std::move(payload));
  } catch (const std::exception& ex) {
    spdlog::warn("cluster: event not sent to the other instances: {}", ex.what());
  }
}

void PgCluster::deliver(const std::string& payload) noexcept {
  try {
    auto r = decode(payload);
    if (!r) {
      spdlog::warn("cluster: ignored a {} notification that is no event of this hitl", kChannel);
      return;
    }
    if (r->from != tag_ && on_event_) on_event_(r->event);
  } catch (const std::exception& e) {
    spdlog::error("cluster: an event's handling failed: {}", e.what());
  }
}

void PgCluster::listen(std::function<void(const Event&)> on_event) {
  std::lock_guard lock(listen_mu_);
  if (listener_.joinable()) throw std::logic_error("cluster: already listening");
  stopping_ = false;
  on_event_ = std::move(on_event);
  listener_ = std::thread([this] { listen_loop(); });
}

// One connection LISTENs; it wakes every 200 ms to see a stop. A lost connection is opened
// again after a second (events sent meanwhile are missed: cluster.hpp says what that costs).
void PgCluster::listen_loop() {
  auto stopping = [this] {
    std::lock_guard lock(listen_mu_);
    return stopping_;
  };
  while (!stopping()) {
    try {
      auto session = connect();
      Receiver receiver(session->conn(), *this);
      while (!stopping()) session->conn().await_notification(0, 200'000);
    } catch (const std::exception& e) {
      spdlog::warn("cluster: listening for other instances' events failed (again in 1 s): {}", e.what());
      std::unique_lock lock(listen_mu_);
      stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
  }
}

void PgCluster::stop() noexcept {
  publisher_.stop();  // what was published before goes out first
  {
    std::lock_guard lock(listen_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (listener_.joinable()) listener_.join();
  std::lock_guard lock(lead_mu_);
  lead_.reset();  // the server releases the advisory lock with its session
  leadership_.set(false);
}

}  // namespace

std::unique_ptr<Cluster> open_postgres(const std::string& storage_config_json) {
  pg::PgConfig cfg;
  if (auto st = pg::parse_config(storage_config_json.c_str(), "storage-postgres", cfg); !st.ok())
    throw std::runtime_error("cluster: " + st.message);
  return std::make_unique<PgCluster>(std::move(cfg));
}

}  // namespace hitl::cluster
