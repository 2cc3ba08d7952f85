#include "common/clock.hpp"

#include <atomic>
#include <chrono>

namespace hitl {
namespace {
std::atomic<std::int64_t> g_offset{0};
}

std::int64_t now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() +
         g_offset.load(std::memory_order_relaxed);
}

void set_clock_offset_ms(std::int64_t offset) noexcept { g_offset.store(offset); }
std::int64_t clock_offset_ms() noexcept { return g_offset.load(); }

}  // namespace hitl
