#pragma once
// A figure read from storage at start while live events go on counting it: the retrain worker's
// samples since the last training (docs/learning-loop.md), where every event counts (a task
// answered twice is two samples). The read runs in the background and events keep being committed
// and heard meanwhile; each must count once, whichever came first. The rule:
//   - heard before the read began: the read replaces it (its commit came first, so it is in);
//   - heard while the read runs: held, then counted once the read is in unless the read had it;
//   - heard after: not counted when the read had it (its notice came late), else counted.
// The read tells which events it had by key; each live event costs one hash look-up, however
// long the history, and the held list is as long as the events heard during the read.
// (The live guard counts decisions, each with its latest outcome, so a read and live outcomes
// merge in any order without this: learning/live_guard.hpp.) Not thread-safe: the owner's mutex
// guards it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hitl::learning {

// One event as the read knows it: the decision; which of its events when the owner counts more
// than one kind per decision (the retrain worker: a final outcome, a first ground truth); and,
// where a decision may have several of a kind, the time of this one (a final outcome's final_ms:
// a task sent back and answered again gives the decision a new outcome, which the read of an
// older one must not take for it; 0 where there is one only).
struct SeedKey {
  std::string decision_id;
  std::uint8_t kind = 0;
  std::int64_t at_ms = 0;
  bool operator==(const SeedKey&) const = default;
};
struct SeedKeyHash {
  std::size_t operator()(const SeedKey& k) const noexcept {
    return std::hash<std::string>{}(k.decision_id) ^ (std::hash<std::int64_t>{}(k.at_ms) * 31 + k.kind);
  }
};
// The events a read counted. A multiset: a read may count one key more than once (two feedback
// rows of a decision in one millisecond), and each live event takes one.
using SeedSeen = std::unordered_multiset<SeedKey, SeedKeyHash>;

// `Event`: what the owner needs to count a held event later (e.g. whether it is a correction).
template <class Event>
class SeedHold {
 public:
  enum class State : std::uint8_t { not_read, reading, read };

  bool read() const { return state_ == State::read; }
  // The read begins: from here on, live events wait for it.
  void begin() { state_ = State::reading; }
  // A live event: true when the owner counts it now; false when it is held for the read, or the
  // read had it. Throws std::bad_alloc holding it (the owner then does not count it).
  bool hear(SeedKey key, Event event) {
    if (state_ == State::reading) {
      held_.emplace_back(std::move(key), std::move(event));
      return false;
    }
    return !take(key);
  }
  // The read is in. The owner has replaced its figures with the read's (or, when the read failed
  // and `seen` is nullopt, kept the live ones); each held event the read did not have is passed
  // to `count`. Returns whether any was.
  template <class Count>
  bool end(std::optional<SeedSeen> seen, Count&& count) {
    if (seen) seen_ = std::move(*seen);
    state_ = State::read;
    auto held = std::move(held_);
    held_ = {};
    bool counted = false;
    for (auto& [key, event] : held)
      if (!take(key)) {
        count(event);
        counted = true;
      }
    return counted;
  }
  // The read's keys not matched by a live event yet are dropped: a notice later than this counts
  // (the retrain worker, when a training begins a new count).
  void forget_read() { seen_ = {}; }

 private:
  bool take(const SeedKey& key) {  // true when the read had it; each live event is heard once
    auto it = seen_.find(key);
    if (it == seen_.end()) return false;
    seen_.erase(it);
    return true;
  }

  State state_ = State::not_read;
  std::vector<std::pair<SeedKey, Event>> held_;
  SeedSeen seen_;  // what the read counted that no live event matched yet
};

}  // namespace hitl::learning
