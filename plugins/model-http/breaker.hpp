#pragma once
// model-http: a circuit breaker over predict calls (closed -> open -> half-open -> closed).
#include <chrono>
#include <mutex>
#include <string>

namespace hitl::model_http {

class Breaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Admit { normal, trial, reject };

  // threshold 0 disables the breaker (every call is admitted normally).
  Breaker(int threshold, int cooldown_ms) : threshold_(threshold), cooldown_(cooldown_ms) {}

  // Whether a call may go to the server. After the cooldown exactly one caller gets `trial`;
  // others are rejected until that trial reports. On reject, `retry_in_ms` and `last_error` say why.
  Admit admit(long long& retry_in_ms, std::string& last_error) {
    if (threshold_ <= 0) return Admit::normal;
    std::lock_guard lock(mu_);
    if (state_ == State::closed) return Admit::normal;
    const auto now = Clock::now();
    if (state_ == State::open && now >= open_until_) {
      state_ = State::half_open;  // this caller is the one trial
      return Admit::trial;
    }
    retry_in_ms = state_ == State::open
                      ? std::chrono::duration_cast<std::chrono::milliseconds>(open_until_ - now).count() + 1
                      : 0;  // half-open: a trial is in flight
    last_error = last_error_;
    return Admit::reject;
  }

  // A call that reached a healthy server (any 2xx with a valid body, or a 4xx) closes the circuit.
  void success() {
    if (threshold_ <= 0) return;
    std::lock_guard lock(mu_);
    consecutive_ = 0;
    state_ = State::closed;
  }

  void failure(bool was_trial, const std::string& message) {
    if (threshold_ <= 0) return;
    std::lock_guard lock(mu_);
    last_error_ = message;
    ++consecutive_;
    if (was_trial || consecutive_ >= threshold_) {
      state_ = State::open;
      open_until_ = Clock::now() + cooldown_;
    }
  }

  int consecutive_failures() const {
    std::lock_guard lock(mu_);
    return consecutive_;
  }

 private:
  enum class State { closed, open, half_open };
  const int threshold_;
  const std::chrono::milliseconds cooldown_;
  mutable std::mutex mu_;
  State state_ = State::closed;
  int consecutive_ = 0;
  Clock::time_point open_until_{};
  std::string last_error_;
};

}  // namespace hitl::model_http
