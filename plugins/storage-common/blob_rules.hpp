// Named blobs (storage 1.3, plugin_api.hpp BlobInfo): the rules every storage plugin applies the
// same way, whatever its database.
#pragma once

#include <hitl/plugin_api.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace hitl::storage_common {

inline constexpr std::size_t kMaxBlobName = 512;  // bytes

// Ok, or Code::invalid_argument naming what is wrong with `name`: empty, longer than 512 bytes,
// holding a NUL byte, or not valid UTF-8. A name is a key the host and other instances read back:
// one the database would cut or re-encode would name another blob.
sdk::Status check_blob_name(const std::string& name, const char* plugin, const char* what);
// A list prefix: the same rules, but it may be empty (every blob).
sdk::Status check_blob_prefix(const std::string& prefix, const char* plugin);

// Whether `name` starts with `prefix` (a list_blobs match).
inline bool has_prefix(const std::string& name, const std::string& prefix) {
  return name.compare(0, prefix.size(), prefix) == 0;
}

// The first name past every name that starts with `prefix`, in byte order: the prefix with its
// last character raised by one, when that character is ASCII below DEL (so the bound stays valid
// UTF-8 text a database accepts). nullopt when there is no such bound to give (an empty prefix,
// or one ending in another character): the caller then filters by has_prefix alone. With it, a
// list by prefix reads one index range [prefix, bound) instead of every name after the prefix.
inline std::optional<std::string> prefix_upper_bound(const std::string& prefix) {
  if (prefix.empty()) return std::nullopt;
  const auto last = static_cast<unsigned char>(prefix.back());
  if (last >= 0x7f) return std::nullopt;
  std::string bound = prefix;
  bound.back() = static_cast<char>(last + 1);
  return bound;
}

}  // namespace hitl::storage_common
