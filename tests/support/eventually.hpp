#pragma once
// Waiting on a condition instead of a fixed sleep: polls until it holds or the deadline passes.
// The deadline is generous (it only bounds a failing test); a passing test waits as long as the
// condition takes.
#include <chrono>
#include <functional>
#include <thread>

namespace hitl::test {

// True as soon as `cond()` holds, false when it still does not after `limit`.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(poll);
  }
  return cond();
}

}  // namespace hitl::test
