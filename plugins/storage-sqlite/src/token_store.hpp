// The token life cycle of storage 1.1 (expiry, last use, revocation time, the list) and storage
// 1.3's export of every token with its hash (for `hitl storage copy`), kept apart
// from sqlite_storage.cpp: a Storage that answers the 1.0 calls through the storage it wraps and
// the token calls on a connection of its own to the same file.
//
// The `token_life` table (schema migration 6) is kept by triggers on `tokens`, so every way a
// token row is written -- the service's writer, `hitl token create` in another process -- updates
// it in the same transaction. An expiry is written to `token_expiries` (by the token's hash)
// just before the batch that stores the token, and the trigger moves it into the token's row: the
// token never exists without it. An expiry whose batch failed is an orphan no token can match,
// deleted an hour later.
#pragma once

#include "storage_config.hpp"

#include <hitl/plugin_api.hpp>

#include <memory>

namespace hitl::storage_sqlite {

// `inner` with the token life cycle added; throws SQLite::Exception when cfg.path cannot be opened.
std::unique_ptr<sdk::Storage> with_token_life(std::unique_ptr<sdk::Storage> inner, const StorageConfig& cfg);

}  // namespace hitl::storage_sqlite
