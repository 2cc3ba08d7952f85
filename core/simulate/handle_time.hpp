#pragma once
// How long a simulated reviewer takes over one task (`--handle-time`, docs/simulate.md):
//   fixed:30s            always 30 seconds
//   lognormal:45s,0.5    median 45 s, sigma 0.5 of the natural log (a few long cases, like people)
//   exponential:40s      mean 40 s
// A duration is a number with s, m or h (seconds when bare); each draw is capped at 24 h.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace hitl::simulate {

struct HandleTime {
  enum class Kind { fixed, lognormal, exponential };
  Kind kind = Kind::lognormal;
  double seconds = 45;  // fixed: the time; lognormal: the median; exponential: the mean
  double sigma = 0.5;   // lognormal only
};

// Throws std::invalid_argument naming what is wrong (unknown kind, a duration out of
// (0, 24 h], sigma out of [0, 3]).
HandleTime parse_handle_time(std::string_view text);
std::string to_string(const HandleTime& h);

// One draw, in milliseconds (at least 1).
std::int64_t draw_ms(const HandleTime& h, std::mt19937_64& rng);

}  // namespace hitl::simulate
