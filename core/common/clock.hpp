#pragma once
// Wall-clock milliseconds, overridable so tests can move time (lease expiry, SLAs).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hitl {

// Milliseconds since the Unix epoch. Returns the test override when one is set.
std::int64_t now_ms() noexcept;

// Tests (and `hitl serve` with HITL_FAKE_CLOCK_OFFSET_MS) shift the clock by an offset.
void set_clock_offset_ms(std::int64_t offset) noexcept;
std::int64_t clock_offset_ms() noexcept;

// `hitl simulate` stops the clock: now_ms() answers `ms` until it is frozen at another moment or
// thawed, so simulated time moves only when the simulation moves it (and two runs with the same
// seed see the same times). nullopt thaws it (back to wall time plus the offset).
void freeze_clock_ms(std::optional<std::int64_t> ms) noexcept;

// A point in time as the API and CLI accept it: milliseconds since the epoch ("1764633600000"),
// a UTC date ("2026-12-02", midnight) or a UTC date-time ("2026-12-02T14:30:00Z", seconds
// optional). nullopt for anything else.
std::optional<std::int64_t> parse_time_ms(std::string_view text);

// "2026-12-02T14:30:00.123Z" (UTC) for tables and logs.
std::string format_time_ms(std::int64_t ms);

}  // namespace hitl
