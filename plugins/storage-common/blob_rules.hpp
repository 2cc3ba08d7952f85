// Named blobs (storage 1.3, plugin_api.hpp BlobInfo): the rules every storage plugin applies the
// same way, whatever its database.
#pragma once

#include <hitl/plugin_api.hpp>

#include <cstddef>
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

}  // namespace hitl::storage_common
