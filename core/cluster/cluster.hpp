#pragma once
// Instances of `hitl serve` sharing one PostgreSQL database (docs/deploy.md, "Several
// instances"), coordinated through that database and nothing else:
//
//  - Leadership: exactly one instance runs what must run once (common/leadership.hpp). It is a
//    session-level advisory lock held on a connection of its own: the server releases it when
//    that connection ends (the instance stopped, was killed, or lost the network), and another
//    instance takes it at its first refresh() after that (the housekeeping thread's first job,
//    every second).
//  - Events: what one instance did that the others must hear -- a final human outcome (for their
//    long-poll waiters and learning counters), a ground truth, a promoted model, a token created
//    or revoked, a retrain job queued -- goes out with
//    NOTIFY and arrives through LISTEN on another connection of its own. An event names a record
//    and never carries it: the receiver reads the record from storage, so an event anyone could
//    send with NOTIFY only ever causes a re-read. Events are hints: one lost while a connection is
//    re-opened costs a delay (a waiter re-reads at its deadline, a model file is polled every 2 s),
//    never a wrong answer.
//  - Locks: what two instances must not do at once (take a registry version number, change the
//    retrain jobs) holds a named advisory lock of the database for its few statements.
//
// With any other storage the instance is alone: it always leads and hears nobody.
#include "common/leadership.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hitl::cluster {

// tokens_changed: a token was created or revoked through the API (the others drop their 5 s
// token-check cache at once). retrain_requested: a retrain job was queued (the leader reads the
// queued jobs now rather than at its next poll: learning/retrain_jobs.hpp).
enum class EventKind : std::uint8_t { final_outcome, ground_truth, model_promoted, tokens_changed, retrain_requested };

struct Event {
  EventKind kind = EventKind::final_outcome;
  std::string domain, id;  // the decision (final_outcome, ground_truth); the other kinds: neither
  bool first = false;      // ground_truth: the decision's first one (learning/retrain_worker.hpp)
};

// The NOTIFY payload: a JSON object with the sending instance's tag. nullopt for anything that
// is not an event this version knows (ignored: the channel is open to every database user).
// `seq`, when set, numbers the sender's events: PostgreSQL folds identical payloads sent in one
// transaction into one notification, and two events may otherwise be alike (pg_publisher.hpp).
std::string encode(const Event& e, const std::string& from, std::uint64_t seq = 0);
struct Received {
  std::string from;
  Event event;
};
std::optional<Received> decode(std::string_view payload);
// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
inline constexpr std::size_t kMaxPayload = 7999;

class Cluster {
 public:
  virtual ~Cluster() = default;

  const Leadership& leadership() const noexcept { return leadership_; }
  bool leader() const noexcept { return leadership_.held(); }
  // Keeps the leadership or takes it when free. Returns true when it changed. Never throws.
  virtual bool refresh() noexcept = 0;
  // Tells the other instances (never this one). Never throws; a failure is logged.
  virtual void publish(const Event& e) noexcept = 0;
  // Hears the other instances' events on a thread of its own until stop(); `on_event` runs there.
  virtual void listen(std::function<void(const Event&)> on_event) = 0;
  // Stops listening and gives the leadership up (its connection closes), so another instance
  // takes it at once rather than when the server notices. Idempotent.
  virtual void stop() noexcept = 0;
  virtual bool shared() const noexcept = 0;
  // At start, before serving: whether no other instance runs on the database now. Every running
  // instance holds a shared "presence" lock; this takes it exclusively when free and keeps it
  // until joined(), so an instance starting meanwhile does not think itself alone too. False
  // when the database cannot be asked (the cautious answer). Alone: always true.
  virtual bool alone_at_start() noexcept = 0;
  // Present from now on (the shared lock, kept with the leadership's connection; taken again
  // whenever that connection is re-opened), and the exclusive hold of alone_at_start() ends.
  virtual void joined() noexcept = 0;
  // Holds every other holder of the lock `name` off, on this instance and on every instance
  // sharing the database, until the returned object goes. Blocks until it is free; throws
  // std::runtime_error when it cannot be taken (the database away, or the server's
  // statement_timeout spent waiting: the caller then does not do what the lock guards). Not
  // reentrant: a thread holding `name` must not ask for it again. Alone: a mutex of this process.
  // The object may outlive the Cluster.
  virtual std::shared_ptr<void> lock(const std::string& name) = 0;

 protected:
  Leadership leadership_;
};

// The cluster of an instance whose storage is `storage_plugin` with `storage_config_json`:
// PostgreSQL's (the storage's own url and connect_timeout_s) for "postgres", else alone.
// Throws std::runtime_error for a "postgres" config it cannot read, or when hitl was built
// without PostgreSQL.
std::unique_ptr<Cluster> open(const std::string& storage_plugin, const std::string& storage_config_json);

// An instance alone: leads from the start, sends and hears nothing.
std::unique_ptr<Cluster> alone();

}  // namespace hitl::cluster
