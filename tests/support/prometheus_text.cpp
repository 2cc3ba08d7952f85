// A strict Prometheus text format (0.0.4) checker: a hand-written line parser (LineParser) and
// the family-level rules on top of it (Checker). See prometheus_text.hpp for the rules.
#include "support/prometheus_text.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

namespace hitl::testing {

namespace {

// ---------------------------------------------------------------------------------------------
// Lexical helpers

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_metric_char(char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == ':'; }
bool is_label_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool is_metric_name(std::string_view s) {
  if (s.empty() || is_digit(s[0])) return false;
  for (char c : s)
    if (!is_metric_char(c)) return false;
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*
bool is_label_name(std::string_view s) {
  if (s.empty() || is_digit(s[0])) return false;
  for (char c : s)
    if (!is_label_char(c)) return false;
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF), as Go's
// utf8.ValidString, which Prometheus applies to label values.
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
    else return false;
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// A sample value as Prometheus reads it: Go's strconv.ParseFloat, after expfmt has refused any
// 'p', 'P' or '_' (so no hexadecimal floats, no digit separators). Accepted: [+-]inf / infinity
// (any case), nan (any case, unsigned), and [+-](digits[.digits]|.digits)([eE][+-]digits).
// Overflow (1e400) is an error in Go; underflow reads as 0 or a subnormal.
std::optional<double> parse_go_float(std::string_view t) {
  if (t.empty()) return std::nullopt;
  std::size_t p = 0;
  bool neg = false;
  if (t[0] == '+' || t[0] == '-') {
    neg = t[0] == '-';
    p = 1;
  }
  const std::string_view rest = t.substr(p);
  if (iequals(rest, "inf") || iequals(rest, "infinity"))
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (p == 0 && iequals(rest, "nan")) return std::numeric_limits<double>::quiet_NaN();
  std::size_t i = p, digits = 0;
  while (i < t.size() && is_digit(t[i])) ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && is_digit(t[i])) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < t.size() && is_digit(t[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != t.size()) return std::nullopt;
  // The syntax is checked; strtod (C locale: the test binaries never call setlocale) converts.
  const std::string buf(t);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size()) return std::nullopt;
  if (errno == ERANGE && std::isinf(v)) return std::nullopt;  // overflow
  return v;
}

// A timestamp: Go's strconv.ParseInt(s, 10, 64), i.e. an optionally signed decimal int64.
bool parse_int64(std::string_view t) {
  std::size_t i = (!t.empty() && (t[0] == '+' || t[0] == '-')) ? 1 : 0;
  if (i == t.size()) return false;
  for (std::size_t k = i; k < t.size(); ++k)
    if (!is_digit(t[k])) return false;
  const std::string buf(t);
  errno = 0;
  std::strtoll(buf.c_str(), nullptr, 10);
  return errno != ERANGE;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One line

enum class Kind { blank, comment, help, type, sample };

struct Line {
  Kind kind = Kind::blank;
  std::string name;                                         // HELP, TYPE and sample lines
  std::string type;                                         // TYPE lines
  std::vector<std::pair<std::string, std::string>> labels;  // sample lines; values unescaped
  double value = 0;                                         // sample lines
};

// Parses one line (without its '\n'). Tokens may be separated by any number of blanks or tabs;
// blanks are required only where two tokens would otherwise merge, as in Prometheus's parser.
class LineParser {
 public:
  explicit LineParser(std::string_view s) : s_(s) {}

  // The parsed line, or nullopt with `error` set.
  std::optional<Line> parse(std::string& error) {
    Line line;
    skip_blanks();
    if (at_end()) return line;  // blank (or only whitespace): ignored
    bool ok = s_[i_] == '#' ? comment(line) : sample(line);
    if (!ok) {
      error = error_;
      return std::nullopt;
    }
    return line;
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  void skip_blanks() {
    while (!at_end() && is_blank(s_[i_])) ++i_;
  }
  std::string_view token_until_blank() {
    const std::size_t start = i_;
    while (!at_end() && !is_blank(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  bool fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }
  std::string here() const {
    if (at_end()) return "end of line";
    return "'" + std::string(1, s_[i_]) + "' at column " + std::to_string(i_ + 1);
  }

  // "# HELP name doc", "# TYPE name type", or any other comment.
  bool comment(Line& line) {
    ++i_;  // '#'
    line.kind = Kind::comment;
    // As in Prometheus's parser, the blank after '#' is optional: "#HELP m x" is a HELP line too.
    skip_blanks();
    const std::string_view keyword = token_until_blank();
    if (keyword != "HELP" && keyword != "TYPE") return true;
    skip_blanks();
    const std::string_view name = token_until_blank();
    if (name.empty()) return fail(std::string(keyword) + " line without a metric name");
    if (!is_metric_name(name)) return fail("invalid metric name \"" + std::string(name) + "\" in " + std::string(keyword) + " line");
    line.name = std::string(name);
    skip_blanks();
    if (keyword == "HELP") {
      line.kind = Kind::help;
      // The docstring is the rest of the line; only \\ and \n are escapes.
      const std::string_view doc = s_.substr(i_);
      for (std::size_t k = 0; k < doc.size(); ++k) {
        if (doc[k] != '\\') continue;
        if (k + 1 >= doc.size()) return fail("HELP text ends in a lone backslash");
        if (doc[k + 1] != '\\' && doc[k + 1] != 'n')
          return fail(std::string("invalid escape \\") + doc[k + 1] + " in HELP text (only \\\\ and \\n)");
        ++k;
      }
      if (!valid_utf8(doc)) return fail("HELP text is not valid UTF-8");
      return true;
    }
    line.kind = Kind::type;
    const std::string_view type = token_until_blank();
    if (type.empty()) return fail("TYPE line without a type");
    if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" && type != "untyped")
      return fail("unknown type \"" + std::string(type) + "\" (counter, gauge, histogram, summary or untyped)");
    line.type = std::string(type);
    // Prometheus reads the type up to the end of the line: "counter " is an unknown type.
    if (!at_end()) return fail("unexpected text after the type: " + here());
    return true;
  }

  // name[{label="value",...}] value [timestamp]
  bool sample(Line& line) {
    line.kind = Kind::sample;
    const std::size_t start = i_;
    while (!at_end() && is_metric_char(s_[i_])) ++i_;
    const std::string_view name = s_.substr(start, i_ - start);
    if (name.empty()) return fail("expected a metric name, got " + here());
    if (!is_metric_name(name)) return fail("invalid metric name \"" + std::string(name) + "\"");
    line.name = std::string(name);
    const std::size_t before_blanks = i_;
    skip_blanks();
    bool separated = i_ > before_blanks;
    if (!at_end() && s_[i_] == '{') {
      ++i_;
      if (!labels(line)) return false;
      separated = true;  // '}' cannot merge with the value
      skip_blanks();
    } else if (!at_end() && !separated) {
      return fail("invalid character " + here() + " in metric name \"" + line.name + "\"");
    }
    if (at_end()) return fail("sample \"" + line.name + "\" has no value");
    if (!separated) return fail("expected a blank before the value");
    const std::string_view value = token_until_blank();
    auto v = parse_go_float(value);
    if (!v) return fail("value \"" + std::string(value) + "\" is not a float");
    line.value = *v;
    if (at_end()) return true;
    // A blank after the value announces a timestamp: Prometheus rejects trailing blanks here
    // ("expected integer as timestamp") and after the timestamp ("spurious string").
    skip_blanks();
    if (at_end()) return fail("trailing blank after the value (a timestamp was expected)");
    const std::string_view ts = token_until_blank();
    if (!parse_int64(ts)) return fail("timestamp \"" + std::string(ts) + "\" is not an int64 (milliseconds)");
    if (!at_end()) return fail("unexpected text after the timestamp: " + here());
    return true;
  }

  // After '{': label="value" pairs separated by ',', an optional trailing ',', then '}'.
  bool labels(Line& line) {
    std::set<std::string> seen;
    for (;;) {
      skip_blanks();
      if (at_end()) return fail("unterminated label set (missing '}')");
      if (s_[i_] == '}') {
        ++i_;
        return true;
      }
      const std::size_t start = i_;
      while (!at_end() && is_label_char(s_[i_])) ++i_;
      const std::string_view lname = s_.substr(start, i_ - start);
      if (lname.empty()) return fail("expected a label name, got " + here());
      if (!is_label_name(lname)) return fail("invalid label name \"" + std::string(lname) + "\"");
      if (lname.substr(0, 2) == "__") return fail("label name \"" + std::string(lname) + "\" is reserved (starts with __)");
      if (!seen.insert(std::string(lname)).second) return fail("label \"" + std::string(lname) + "\" repeated");
      skip_blanks();
      if (at_end() || s_[i_] != '=') return fail("expected '=' after label name \"" + std::string(lname) + "\", got " + here());
      ++i_;
      skip_blanks();
      if (at_end() || s_[i_] != '"') return fail("label value of \"" + std::string(lname) + "\" must be double-quoted, got " + here());
      ++i_;
      std::string value;
      for (;;) {
        if (at_end()) return fail("unterminated label value of \"" + std::string(lname) + "\"");
        const char c = s_[i_++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        if (at_end()) return fail("unterminated label value of \"" + std::string(lname) + "\"");
        const char e = s_[i_++];
        if (e == '\\') value += '\\';
        else if (e == '"') value += '"';
        else if (e == 'n') value += '\n';
        else return fail(std::string("invalid escape \\") + e + " in label value of \"" + std::string(lname) + "\" (only \\\\, \\\" and \\n)");
      }
      if (!valid_utf8(value)) return fail("label value of \"" + std::string(lname) + "\" is not valid UTF-8");
      line.labels.emplace_back(std::string(lname), std::move(value));
      skip_blanks();
      if (at_end()) return fail("unterminated label set (missing '}')");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] != '}') return fail("expected ',' or '}' after a label value, got " + here());
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string error_;
};

// Splits into lines; `ends_with_newline` tells whether the last line was terminated.
std::vector<std::string_view> split_lines(std::string_view text, bool& ends_with_newline) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(start));
      ends_with_newline = false;
      return lines;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  ends_with_newline = true;
  return lines;
}

std::string key_of(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
                   const char* skip = nullptr) {
  std::map<std::string, std::string> m;
  for (auto& [k, v] : labels)
    if (!skip || k != skip) m.emplace(k, v);
  return series_key(name, std::move(m));
}

std::string fmt(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Family-level rules

class Checker {
 public:
  std::vector<std::string> run(std::string_view text) {
    bool ends_with_newline = true;
    const auto lines = split_lines(text, ends_with_newline);
    for (std::size_t n = 0; n < lines.size(); ++n) {
      line_no_ = static_cast<int>(n + 1);
      std::string error;
      auto line = LineParser(lines[n]).parse(error);
      if (!line) {
        problem(line_no_, error);
        continue;
      }
      switch (line->kind) {
        case Kind::blank:
        case Kind::comment: break;  // neither starts nor ends a family's group
        case Kind::help: help(*line); break;
        case Kind::type: type(*line); break;
        case Kind::sample: sample(*line); break;
      }
    }
    finish();
    if (!ends_with_newline) problem(static_cast<int>(lines.size()), "the text does not end with a newline");
    return std::move(problems_);
  }

 private:
  struct Family {
    std::string type = "untyped";
    int help_line = 0, type_line = 0, first_sample_line = 0, last_line = 0;
    bool closed = false;          // lines of another family came after this family's group
    bool split_reported = false;  // report a non-contiguous family once
  };
  // One label set (labels without le / quantile) of a histogram or summary family.
  struct Group {
    int first_line = 0;
    int buckets = 0;
    double last_le = 0, last_bucket = 0;
    std::optional<double> inf_bucket;
    std::optional<double> count;
    int count_line = 0;
    bool sum = false;
  };

  void problem(int line, const std::string& msg) { problems_.push_back("line " + std::to_string(line) + ": " + msg); }

  // Every HELP, TYPE or sample line belongs to a family; its lines must form one group.
  Family& enter(const std::string& name) {
    Family& f = families_[name];
    if (current_ != name) {
      if (!current_.empty()) families_[current_].closed = true;
      if (f.closed && !f.split_reported) {
        problem(line_no_, "lines of family \"" + name + "\" are not contiguous (its group ended at line " +
                              std::to_string(f.last_line) + ")");
        f.split_reported = true;
      }
      current_ = name;
    }
    f.last_line = line_no_;
    return f;
  }

  void help(const Line& line) {
    Family& f = enter(line.name);
    if (f.help_line) problem(line_no_, "second HELP line for \"" + line.name + "\" (first at line " + std::to_string(f.help_line) + ")");
    else f.help_line = line_no_;
  }

  void type(const Line& line) {
    Family& f = enter(line.name);
    if (f.type_line) {
      problem(line_no_, "second TYPE line for \"" + line.name + "\" (first at line " + std::to_string(f.type_line) + ")");
      return;
    }
    f.type_line = line_no_;
    if (f.first_sample_line)
      problem(line_no_, "TYPE line for \"" + line.name + "\" after its first sample (line " + std::to_string(f.first_sample_line) + ")");
    f.type = line.type;
    if (f.type == "counter" && !ends_with(line.name, "_total"))
      problem(line_no_, "counter \"" + line.name + "\" must be named *_total");
  }

  // The family a sample belongs to, and the sample's suffix within it (histograms, summaries).
  std::pair<std::string, std::string> family_of(const std::string& name) const {
    if (families_.count(name)) return {name, ""};
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      if (!ends_with(name, suffix)) continue;
      const std::string base = name.substr(0, name.size() - std::string_view(suffix).size());
      auto it = families_.find(base);
      if (it == families_.end()) continue;
      if (it->second.type == "histogram") return {base, suffix};
      if (it->second.type == "summary" && std::string_view(suffix) != "_bucket") return {base, suffix};
    }
    return {name, ""};
  }

  void sample(const Line& line) {
    const auto [fam, suffix] = family_of(line.name);
    Family& f = enter(fam);
    if (!f.first_sample_line) f.first_sample_line = line_no_;

    const std::string key = key_of(line.name, line.labels);
    if (auto [it, fresh] = series_.emplace(key, line_no_); !fresh) {
      problem(line_no_, "duplicate series " + key + " (first at line " + std::to_string(it->second) + ")");
      return;
    }
    const double v = line.value;
    if (f.type == "counter") {
      if (std::isnan(v) || v < 0) problem(line_no_, "counter " + key + " has value " + fmt(v) + " (must be >= 0)");
    } else if (f.type == "histogram") {
      histogram_sample(fam, suffix, line, key);
    } else if (f.type == "summary") {
      summary_sample(fam, suffix, line, key);
    }
  }

  const std::string* label(const Line& line, const char* name) const {
    for (auto& [k, v] : line.labels)
      if (k == name) return &v;
    return nullptr;
  }

  void histogram_sample(const std::string& fam, const std::string& suffix, const Line& line, const std::string& key) {
    if (suffix.empty()) {
      problem(line_no_, "sample \"" + line.name + "\" of histogram \"" + fam + "\" must be " + fam + "_bucket, " + fam +
                            "_sum or " + fam + "_count");
      return;
    }
    Group& g = groups_[fam][key_of(fam, line.labels, suffix == "_bucket" ? "le" : nullptr)];
    if (!g.first_line) g.first_line = line_no_;
    const double v = line.value;
    if (suffix == "_sum") {
      g.sum = true;
      return;
    }
    if (std::isnan(v) || v < 0) {
      problem(line_no_, key + " has value " + fmt(v) + " (a count must be >= 0)");
      return;
    }
    if (suffix == "_count") {
      g.count = v;
      g.count_line = line_no_;
      return;
    }
    const std::string* le_text = label(line, "le");
    if (!le_text) {
      problem(line_no_, "bucket " + key + " has no le label");
      return;
    }
    auto le = parse_go_float(*le_text);
    if (!le || std::isnan(*le)) {
      problem(line_no_, "bucket " + key + ": le=\"" + *le_text + "\" is not a float");
      return;
    }
    if (g.buckets > 0 && *le <= g.last_le)
      problem(line_no_, "bucket " + key + ": le " + fmt(*le) + " is not above the previous bucket's le " + fmt(g.last_le) +
                            " (buckets must be in increasing le order)");
    else if (g.buckets > 0 && v < g.last_bucket)
      problem(line_no_, "bucket " + key + ": count " + fmt(v) + " is below the previous bucket's " + fmt(g.last_bucket) +
                            " (buckets are cumulative)");
    g.buckets++;
    g.last_le = *le;
    g.last_bucket = v;
    if (std::isinf(*le) && *le > 0) g.inf_bucket = v;
  }

  void summary_sample(const std::string& /*fam*/, const std::string& suffix, const Line& line, const std::string& key) {
    if (suffix.empty()) {
      const std::string* q = label(line, "quantile");
      if (!q) problem(line_no_, "summary sample " + key + " has no quantile label");
      else if (auto qv = parse_go_float(*q); !qv || !(*qv >= 0 && *qv <= 1))
        problem(line_no_, "summary sample " + key + ": quantile=\"" + *q + "\" is not a float in [0, 1]");
      return;
    }
    if (suffix == "_count" && (std::isnan(line.value) || line.value < 0))
      problem(line_no_, key + " has value " + fmt(line.value) + " (a count must be >= 0)");
  }

  // Whole-histogram rules, reported at the first line of each label set.
  void finish() {
    for (auto& [fam, groups] : groups_) {
      for (auto& [key, g] : groups) {
        const std::string what = "histogram " + key;
        if (!g.inf_bucket) problem(g.first_line, what + " has no le=\"+Inf\" bucket");
        if (!g.count) problem(g.first_line, what + " has no " + fam + "_count");
        else if (g.inf_bucket && *g.count != *g.inf_bucket)
          problem(g.count_line, what + ": " + fam + "_count " + fmt(*g.count) + " differs from its le=\"+Inf\" bucket " +
                                    fmt(*g.inf_bucket));
        if (!g.sum) problem(g.first_line, what + " has no " + fam + "_sum");
      }
    }
  }

  int line_no_ = 0;
  std::string current_;
  std::map<std::string, Family> families_;
  std::map<std::string, int> series_;  // canonical key -> first line
  std::map<std::string, std::map<std::string, Group>> groups_;
  std::vector<std::string> problems_;
};

}  // namespace

std::string series_key(const std::string& name, std::map<std::string, std::string> labels) {
  if (labels.empty()) return name;
  std::string out = name + "{";
  bool first = true;
  for (auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + escape_label_value(v) + "\"";
  }
  return out + "}";
}

std::vector<std::string> check_prometheus_text(const std::string& text) { return Checker().run(text); }

std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> out;
  bool ends_with_newline = true;
  for (auto l : split_lines(text, ends_with_newline)) {
    std::string error;
    auto line = LineParser(l).parse(error);
    if (line && line->kind == Kind::sample) out[key_of(line->name, line->labels)] = line->value;
  }
  return out;
}

}  // namespace hitl::testing
