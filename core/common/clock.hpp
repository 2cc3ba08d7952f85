#pragma once
// Wall-clock milliseconds, overridable so tests can move time (lease expiry, SLAs).
#include <cstdint>

namespace hitl {

// Milliseconds since the Unix epoch. Returns the test override when one is set.
std::int64_t now_ms() noexcept;

// Tests (and `hitl serve` with HITL_FAKE_CLOCK_OFFSET_MS) shift the clock by an offset.
void set_clock_offset_ms(std::int64_t offset) noexcept;
std::int64_t clock_offset_ms() noexcept;

}  // namespace hitl
