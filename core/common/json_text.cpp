#include "common/json_text.hpp"

#include "common/utf8.hpp"

#include <charconv>
#include <cmath>

namespace hitl {

void JsonText::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = 0;
  }
}

JsonText& JsonText::open(char bracket) {
  before_value();
  out_.push_back(bracket);
  first_.push_back(1);
  return *this;
}

JsonText& JsonText::close(char bracket) {
  out_.push_back(bracket);
  first_.pop_back();
  return *this;
}

JsonText& JsonText::begin_object() { return open('{'); }
JsonText& JsonText::end_object() { return close('}'); }
JsonText& JsonText::begin_array() { return open('['); }
JsonText& JsonText::end_array() { return close(']'); }

JsonText& JsonText::key(std::string_view k) {
  before_value();
  string(k);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

JsonText& JsonText::value(std::string_view s) {
  before_value();
  string(s);
  return *this;
}

JsonText& JsonText::value(double x) {
  before_value();
  if (!std::isfinite(x)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  const std::string_view digits(buf, static_cast<std::size_t>(end - buf));
  out_ += digits;
  // nlohmann writes a whole double as "1.0": keep it a float for whoever reads the text.
  if (digits.find_first_of(".e") == std::string_view::npos) out_ += ".0";
  return *this;
}

JsonText& JsonText::value(std::int64_t x) {
  before_value();
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  out_.append(buf, end);
  return *this;
}

JsonText& JsonText::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

JsonText& JsonText::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

std::string JsonText::take() {
  first_.clear();
  after_key_ = false;
  return std::move(out_);
}

// Escapes as nlohmann does: \" \\ \b \f \n \r \t, other control characters as \u00XX, the rest
// as it is; an invalid UTF-8 byte becomes U+FFFD.
namespace {
// Printable ASCII other than the quote and the backslash: written as it is.
bool needs_no_escape(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}
}  // namespace

void JsonText::string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out_.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    // A run that needs no escape goes in at once: hashes, ids and labels are one run each
    // (char by char, this was 2 % of `hitl ingest`'s CPU).
    std::size_t run = i;
    while (run < s.size() && needs_no_escape(s[run])) ++run;
    if (run > i) {
      out_.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out_ += "\xEF\xBF\xBD";
        ++i;
      } else {
        out_.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out_ += "\\\""; continue;
      case '\\': out_ += "\\\\"; continue;
      case '\b': out_ += "\\b"; continue;
      case '\f': out_ += "\\f"; continue;
      case '\n': out_ += "\\n"; continue;
      case '\r': out_ += "\\r"; continue;
      case '\t': out_ += "\\t"; continue;
      default: break;
    }
    if (c < 0x20) {
      out_ += "\\u00";
      out_.push_back(kHex[c >> 4]);
      out_.push_back(kHex[c & 15]);
    } else {
      out_.push_back(static_cast<char>(c));
    }
  }
  out_.push_back('"');
}

}  // namespace hitl
