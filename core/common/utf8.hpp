#pragma once
// UTF-8 well-formedness, for text that leaves the service (metric labels) or is stored (policy
// verdict fields): one definition of "valid" for every check.
#include <cstddef>
#include <string>
#include <string_view>

namespace hitl {

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 when it is not valid
// (truncated, overlong, surrogate, above U+10FFFF). i must be < s.size().
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept;

// Whether all of `s` is valid UTF-8.
bool valid_utf8(std::string_view s) noexcept;

// `s` made valid: each invalid byte becomes U+FFFD, and the result is cut to at most `max_bytes`
// without splitting a character.
std::string utf8_text(std::string_view s, std::size_t max_bytes);

}  // namespace hitl
