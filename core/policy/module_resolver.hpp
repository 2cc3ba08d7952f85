#pragma once
// Where `require` may look: the policy standard library folder first, then the policy file's own
// folder. Nothing else: no package.path, no absolute paths, no "..".
//
// Module files are read once per engine and kept in memory, so creating a Lua state for another
// worker thread (or recreating one after an error) never touches the file system again.
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hitl::policy::detail {

struct ModuleSource {
  std::string source;     // Lua text (loaded in text mode only)
  std::string chunkname;  // "@hitl.lua", "@rules/limits.lua": what error messages show
};

class ModuleResolver {
 public:
  ModuleResolver(std::filesystem::path lib_dir, std::filesystem::path policy_dir);

  // The module named `name` ("hitl", "rules.limits" -> rules/limits.lua), or nullptr with a
  // one-line reason in `error` (always NUL-terminated). Thread-safe; never throws, because it
  // is called from a Lua C function where an exception must not cross the Lua frames.
  const ModuleSource* find(const char* name, char* error, std::size_t error_size) noexcept;

  // Checks a module name: letters, digits, '_' and '.', no empty segment. Returns "" when valid.
  static const char* name_problem(const char* name) noexcept;

  const std::filesystem::path& lib_dir() const { return lib_dir_; }
  const std::filesystem::path& policy_dir() const { return policy_dir_; }

 private:
  std::filesystem::path lib_dir_, policy_dir_;
  std::mutex mu_;
  // name -> source; a null entry remembers "not found" so a failing lazy require stays cheap.
  std::map<std::string, std::unique_ptr<ModuleSource>, std::less<>> cache_;
};

}  // namespace hitl::policy::detail
