// hitl-sdk-abi-lock <sdk-dir>: records the current plugin_api.hpp in <sdk-dir>/abi.lock after a
// version bump (see abi_lock.hpp). For each section it appends "<section> <version> sha256=..."
// (and keeps the section's declarations in <sdk-dir>/abi/<section>-<version>.decl) when that
// version is new, does nothing when it is recorded with the same digest, and refuses (exit 1,
// saying which version to bump) when the declarations changed under a recorded version, the
// version went down, or a minor bump changed more than the previous minor allows. Run it as:  cmake --build build --target sdk-update-abi-lock
#include "abi_lock.hpp"

#include "common/hash.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;
using namespace hitl::sdk_lock;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "1.10" > "1.9": compares numerically, major first.
bool older(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& v) {
    const auto dot = v.find('.');
    return std::make_pair(std::stoul(v.substr(0, dot)), dot == std::string::npos ? 0ul : std::stoul(v.substr(dot + 1)));
  };
  return parts(a) < parts(b);
}

// A minor bump must grow the previous minor's declarations compatibly (abi_lock.hpp). Returns
// false, saying why, when it does not or when the previous minor's record is missing.
bool check_minor(const fs::path& sdk, const Section& s, const std::string& version, const std::string& own_text) {
  const auto dot = version.find('.');
  const unsigned minor = dot == std::string::npos ? 0 : static_cast<unsigned>(std::stoul(version.substr(dot + 1)));
  if (s.major_macro == nullptr || minor == 0) return true;  // a new format or major may change anything
  const std::string previous = version.substr(0, dot) + "." + std::to_string(minor - 1);
  const fs::path record = sdk / "abi" / (std::string(s.name) + "-" + previous + ".decl");
  if (!fs::exists(record)) {
    std::cerr << record.string() << ": missing, so " << s.name << " " << version << " cannot be checked against " << previous << "\n";
    return false;
  }
  if (const auto why = minor_violation(read_text(record), own_text); !why.empty()) {
    std::cerr << "plugin_api.hpp: " << s.name << " " << version << " is no compatible growth of " << previous << ": " << why
              << ".\n  Bump " << s.major_macro << " instead (docs/plugin-sdk.md, \"Versions and compatibility\").\n";
    return false;
  }
  return true;
}

// One section: the lock line to append ("" = none), or an error. Returns false on a refusal.
bool plan(const fs::path& sdk, const std::string& header, const std::vector<LockLine>& lock, const Section& s,
          std::string& append) {
  const std::string version = declared_version(header, s);
  if (version.empty()) {
    std::cerr << "plugin_api.hpp: no version macros for the " << s.name << " section\n";
    return false;
  }
  const std::string digest = hitl::sha256_hex(digest_input(split_sections(header), s.name));
  if (const auto* line = find_line(lock, s.name, version)) {
    if (line->sha256 == digest) return true;
    std::cerr << "plugin_api.hpp: the " << s.name << " declarations changed but their version is still " << version
              << ", which abi.lock ties to sha256 " << line->sha256 << ".\n  Bump "
              << (s.major_macro ? std::string(s.minor_macro) + " if the change only appends (docs/plugin-sdk.md, "
                                                              "\"Growing an interface\"), else " + s.major_macro
                                : std::string("HITL_SDK_ABI_VERSION and every interface major"))
              << ", then run this again.\n";
    return false;
  }
  for (const auto& l : lock)
    if (l.section == s.name && older(version, l.version)) {
      std::cerr << "plugin_api.hpp: " << s.name << " version " << version << " is older than the recorded " << l.version << "\n";
      return false;
    }
  const auto split = split_sections(header);
  const std::string own_text = split.count(s.name) ? split.at(s.name) : "";
  if (!check_minor(sdk, s, version, own_text)) return false;
  fs::create_directories(sdk / "abi");
  std::ofstream(sdk / "abi" / (std::string(s.name) + "-" + version + ".decl"), std::ios::binary) << own_text;
  append = std::string(s.name) + " " + version + " sha256=" + digest + "\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hitl-sdk-abi-lock <sdk-dir>\n";
    return 2;
  }
  const fs::path sdk = argv[1];
  const std::string header = read_text(sdk / "include/hitl/plugin_api.hpp");
  const std::string lock_text = read_text(sdk / "abi.lock");
  std::vector<std::string> bad;
  const auto lock = parse_lock(lock_text, bad);
  for (const auto& b : bad) std::cerr << "abi.lock: malformed line: " << b << "\n";
  if (header.empty() || !bad.empty()) return 1;

  std::string appended;
  bool ok = true;
  for (const auto& s : sections()) {
    std::string line;
    ok = plan(sdk, header, lock, s, line) && ok;
    appended += line;
  }
  if (!ok) return 1;
  if (appended.empty()) {
    std::cout << "abi.lock already records every section of plugin_api.hpp\n";
    return 0;
  }
  std::ofstream(sdk / "abi.lock", std::ios::app) << appended;
  std::cout << "abi.lock: recorded\n" << appended;
  return 0;
}
