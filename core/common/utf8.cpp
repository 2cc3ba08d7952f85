#include "common/utf8.hpp"

namespace hitl {

namespace {

// Length of the sequence starting at s[i] and whether it is well formed (Unicode table 3-7).
std::size_t sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) { n = 3; lo = 0xA0; }
  else if (c >= 0xE1 && c <= 0xEC) n = 3;
  else if (c == 0xED) { n = 3; hi = 0x9F; }  // no UTF-16 surrogates
  else if (c >= 0xEE && c <= 0xEF) n = 3;
  else if (c == 0xF0) { n = 4; lo = 0x90; }  // no overlong 4-byte forms
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) { n = 4; hi = 0x8F; }  // nothing past U+10FFFF
  else return 0;
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view s) noexcept {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count) {
    const std::size_t n = sequence_length(s, i);
    if (n == 0) return std::nullopt;
    i += n;
  }
  return count;
}

bool utf8_valid(std::string_view s) noexcept { return utf8_length(s).has_value(); }

bool has_control_chars(std::string_view s, bool allow_newlines) noexcept {
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7F) continue;
    if (allow_newlines && (c == '\n' || c == '\r' || c == '\t')) continue;
    return true;
  }
  return false;
}

}  // namespace hitl
