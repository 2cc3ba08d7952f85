// The SQLite implementation of hitl::sdk::Storage. Only the factory is visible here so the
// SQLiteCpp headers stay inside sqlite_storage.cpp.
#pragma once

#include "storage_config.hpp"

#include <hitl/plugin_api.hpp>

#include <memory>

namespace hitl::storage_sqlite {

// Opens (creating when missing) the database at cfg.path in WAL mode, applies pending
// migrations, and prepares the statements of the write and read paths.
sdk::Status open_storage(const StorageConfig& cfg, std::unique_ptr<sdk::Storage>& out) noexcept;

}  // namespace hitl::storage_sqlite
