#pragma once
// UTF-8 checks for text from clients, policies and plugins. One rule in one place: the HTTP
// layer, the record parser, the review routes and the policy engine all ask these.
#include <cstddef>
#include <optional>
#include <string_view>

namespace hitl {

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF).
bool utf8_valid(std::string_view s) noexcept;

// The number of code points of well-formed UTF-8 `s`, or nullopt when it is not well-formed.
// Limits documented "in characters" are counted with this, never with s.size().
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

// True when `s` holds a C0 control character (U+0000..U+001F) or DEL; `allow_newlines` lets
// '\n', '\r' and '\t' through (free text such as comments).
bool has_control_chars(std::string_view s, bool allow_newlines = false) noexcept;

}  // namespace hitl
