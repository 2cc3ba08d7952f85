#pragma once
// sdk/abi.lock: what each interface version of plugin_api.hpp declared, as a SHA-256 per
// (section, version). Shared by test-sdk (which checks) and hitl-sdk-abi-lock (which records).
//
// The header is split by "// @abi-section: <name>" lines (ended by "// @abi-end") into
// `common`, `model`, `queue` and `storage`. An interface's digest covers its own section and
// `common`, so a change to Status moves all three. Comments and spacing are dropped first: a
// documentation edit is no version change. (So the header may not put "//" in a string
// literal, nor use /* */ comments: check() says so when it does.)
#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace hitl::sdk_lock {

// The versioned sections: `common` is versioned by the descriptor format (HITL_SDK_ABI_VERSION).
struct Section {
  const char* name;
  const char* major_macro;  // nullptr: versioned by HITL_SDK_ABI_VERSION alone
  const char* minor_macro;
};
inline const std::vector<Section>& sections() {
  static const std::vector<Section> all = {
      {"common", nullptr, nullptr},
      {"model", "HITL_SDK_MODEL_API_MAJOR", "HITL_SDK_MODEL_API_MINOR"},
      {"queue", "HITL_SDK_QUEUE_API_MAJOR", "HITL_SDK_QUEUE_API_MINOR"},
      {"storage", "HITL_SDK_STORAGE_API_MAJOR", "HITL_SDK_STORAGE_API_MINOR"},
  };
  return all;
}

// A line of code without its // comment, spacing collapsed.
inline std::string normalise_line(std::string line) {
  if (auto at = line.find("//"); at != std::string::npos) line.erase(at);
  std::string out;
  for (char c : line) {
    const bool space = c == ' ' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Normalised declarations per section name (a section may appear in several places).
inline std::map<std::string, std::string> split_sections(const std::string& header) {
  static const std::regex marker(R"(^// @abi-section: ([a-z]+)\s*$)");
  std::map<std::string, std::string> out;
  std::istringstream in(header);
  std::string current;
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, marker)) {
      current = m[1];
      continue;
    }
    if (line.rfind("// @abi-end", 0) == 0) current.clear();
    if (current.empty()) continue;
    if (auto text = normalise_line(line); !text.empty()) out[current] += text + "\n";
  }
  return out;
}

// The text an interface's digest covers: `common`, then its own section.
inline std::string digest_input(const std::map<std::string, std::string>& split, const std::string& name) {
  auto common = split.find("common");
  std::string text = common == split.end() ? "" : common->second;
  if (name != "common")
    if (auto own = split.find(name); own != split.end()) text += "@" + name + "\n" + own->second;
  return text;
}

// The number a `#define <macro> <n>u` line gives, if any.
inline std::optional<unsigned> define_value(const std::string& header, const std::string& macro) {
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("#define " + macro + " ([0-9]+)u"))) return std::nullopt;
  return static_cast<unsigned>(std::stoul(m[1]));
}

// "6" for common, "1.3" for an interface; "" when the header lacks the macros.
inline std::string declared_version(const std::string& header, const Section& s) {
  if (s.major_macro == nullptr) {
    auto format = define_value(header, "HITL_SDK_ABI_VERSION");
    return format ? std::to_string(*format) : "";
  }
  auto major = define_value(header, s.major_macro);
  auto minor = define_value(header, s.minor_macro);
  return major && minor ? std::to_string(*major) + "." + std::to_string(*minor) : "";
}

struct LockLine {
  std::string section;
  std::string version;
  std::string sha256;
};

// The lock's "<section> <version> sha256=<hex>" lines; the "abi_version=N" lines of the
// whole-API versions 1..5 are history and skipped, '#' starts a comment. Malformed lines go to
// `bad`.
inline std::vector<LockLine> parse_lock(const std::string& text, std::vector<std::string>& bad) {
  static const std::regex line_re(R"(^([a-z]+) ([0-9]+(?:\.[0-9]+)?) sha256=([0-9a-f]{64})$)");
  static const std::regex legacy_re(R"(^abi_version=[0-9]+ sha256=[0-9a-f]{64}$)");
  std::vector<LockLine> out;
  std::istringstream in(text);
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || std::regex_match(line, legacy_re)) continue;
    if (std::regex_match(line, m, line_re))
      out.push_back({m[1], m[2], m[3]});
    else
      bad.push_back(line);
  }
  return out;
}

inline const LockLine* find_line(const std::vector<LockLine>& lock, const std::string& section, const std::string& version) {
  for (const auto& l : lock)
    if (l.section == section && l.version == version) return &l;
  return nullptr;
}

// --- What a minor may change -----------------------------------------------------------------
// The recorder keeps each version's own normalised section (sdk/abi/<section>-<version>.decl),
// and a minor bump is checked against the previous minor's: every struct and enum must be
// unchanged, every class and size table may only gain lines at its end (new methods after the
// last, new entries after the last), other declarations may only be added, and nothing may go.

struct Block {
  std::string head;                // its first line, e.g. "struct Lease {"
  std::vector<std::string> lines;  // every line, head and closing "};" included
  bool may_grow_at_end = false;    // a class or a constexpr table
};

// The declaration blocks of a normalised section (top-level brace groups spanning lines) and the
// declarations that fit on one line.
inline void split_blocks(const std::string& text, std::vector<Block>& blocks, std::vector<std::string>& loose) {
  std::istringstream in(text);
  int depth = 0;
  for (std::string line; std::getline(in, line);) {
    const int before = depth;
    for (char c : line) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
    if (before == 0 && depth > 0) {
      const bool grows = line.rfind("class ", 0) == 0 || line.rfind("inline constexpr", 0) == 0;
      blocks.push_back({line, {line}, grows});
    } else if (before > 0) {
      blocks.back().lines.push_back(line);  // inside, or its closing line
    } else {
      loose.push_back(line);
    }
  }
}

// A one-line declaration kept as it was, or (a one-line constexpr table) grown at its end only.
inline bool kept(const std::string& old_line, const std::vector<std::string>& new_loose) {
  for (const auto& line : new_loose) {
    if (line == old_line) return true;
    const std::string open = old_line.size() > 2 ? old_line.substr(0, old_line.size() - 2) : old_line;  // without "};"
    if (old_line.rfind("inline constexpr", 0) == 0 && old_line.size() > 2 && line.rfind(open, 0) == 0) return true;
  }
  return false;
}

// Why `newer` is no compatible growth of `older` ("" when it is).
inline std::string minor_violation(const std::string& older, const std::string& newer) {
  std::vector<Block> old_blocks, new_blocks;
  std::vector<std::string> old_loose, new_loose;
  split_blocks(older, old_blocks, old_loose);
  split_blocks(newer, new_blocks, new_loose);
  for (const auto& line : old_loose)
    if (!kept(line, new_loose)) return "the declaration '" + line + "' changed or went";
  for (const auto& old : old_blocks) {
    auto it = std::find_if(new_blocks.begin(), new_blocks.end(), [&](const Block& b) { return b.head == old.head; });
    if (it == new_blocks.end()) return "'" + old.head + "' changed or went";
    if (!old.may_grow_at_end) {
      if (it->lines != old.lines) return "'" + old.head + "' changed: a struct or enum never changes within a major";
      continue;
    }
    // All lines but the last two stay; the last before the closing "};" may gain text at its end
    // (a table entry appended on the same line); what follows it is new.
    const std::size_t last = old.lines.size() - 2;
    if (it->lines.size() < old.lines.size() || !std::equal(old.lines.begin(), old.lines.begin() + last, it->lines.begin()) ||
        it->lines[last].rfind(old.lines[last], 0) != 0)
      return "'" + old.head + "' changed before its end: new methods and entries go after the last one";
  }
  return "";
}

}  // namespace hitl::sdk_lock
