#include "policy/module_resolver.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hitl::policy::detail {
namespace fs = std::filesystem;

namespace {
bool read_file(const fs::path& p, std::string& out) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return false;
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = std::move(ss).str();
  return true;
}

fs::path absolute_or_same(const fs::path& p) {
  std::error_code ec;
  auto abs = fs::absolute(p.empty() ? fs::path(".") : p, ec);
  return ec ? p : abs.lexically_normal();
}
}  // namespace

ModuleResolver::ModuleResolver(fs::path lib_dir, fs::path policy_dir)
    : lib_dir_(absolute_or_same(lib_dir)), policy_dir_(absolute_or_same(policy_dir)) {}

const char* ModuleResolver::name_problem(const char* name) noexcept {
  if (!*name) return "empty module name";
  bool segment_empty = true;
  for (const char* c = name; *c; ++c) {
    const bool word = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (*c == '.') {
      if (segment_empty) return "empty segment in module name (no \"..\", no leading dot)";
      segment_empty = true;
    } else if (!word) {
      return "invalid character in module name (use letters, digits, '_' and '.' only; no paths)";
    } else {
      segment_empty = false;
    }
  }
  if (segment_empty) return "module name ends with a dot";
  return "";
}

const ModuleSource* ModuleResolver::find(const char* name, char* error, std::size_t error_size) noexcept {
  if (error_size) error[0] = '\0';
  if (const char* problem = name_problem(name); *problem) {
    std::snprintf(error, error_size, "require \"%.100s\": %s", name, problem);
    return nullptr;
  }
  try {
    std::lock_guard lock(mu_);
    auto it = cache_.find(std::string_view(name));
    if (it == cache_.end()) {
      std::string rel(name);
      for (char& c : rel)
        if (c == '.') c = '/';
      rel += ".lua";
      std::unique_ptr<ModuleSource> found;
      for (const fs::path* dir : {&lib_dir_, &policy_dir_}) {
        std::string text;
        if (read_file(*dir / rel, text)) {
          found = std::make_unique<ModuleSource>(ModuleSource{std::move(text), "@" + rel});
          break;
        }
      }
      it = cache_.emplace(name, std::move(found)).first;
    }
    if (!it->second) {
      std::string rel(name);
      for (char& c : rel)
        if (c == '.') c = '/';
      std::snprintf(error, error_size, "require \"%.100s\": module not found (looked for %s.lua in %s and %s)", name,
                    rel.c_str(), lib_dir_.c_str(), policy_dir_.c_str());
      return nullptr;
    }
    return it->second.get();
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "require \"%.100s\": %s", name, e.what());
  } catch (...) {
    std::snprintf(error, error_size, "require \"%.100s\": unknown error", name);
  }
  return nullptr;
}

}  // namespace hitl::policy::detail
