#pragma once
// UTF-8 for text from clients, policies and plugins, and for text that leaves the service
// (metric labels, audit records): one definition of "valid" for every check. The HTTP layer, the
// record parser, the review routes, the config loader and the policy engine all ask these.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hitl {

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 when it is not valid
// (truncated, overlong, surrogate, above U+10FFFF). i must be < s.size().
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept;

// Whether all of `s` is valid UTF-8.
bool valid_utf8(std::string_view s) noexcept;

// The number of code points of well-formed UTF-8 `s`, or nullopt when it is not well-formed.
// Limits documented "in characters" are counted with this, never with s.size().
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

// True when `s` holds a C0 control character (U+0000..U+001F) or DEL; `allow_newlines` lets
// '\n', '\r' and '\t' through (free text such as comments).
bool has_control_chars(std::string_view s, bool allow_newlines = false) noexcept;

// `s` made valid: each invalid byte becomes U+FFFD, and the result is cut to at most `max_bytes`
// without splitting a character.
std::string utf8_text(std::string_view s, std::size_t max_bytes);

}  // namespace hitl
