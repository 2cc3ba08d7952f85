// Named blobs (storage 1.3): the `blobs` table of schema migration 7. A put is one statement on
// the writer connection, under the writer's lock, so it is ordered with the batches' commits and
// replaces a blob whole; reads go through the read connection.
#include "storage_impl.hpp"

#include "blob_rules.hpp"

namespace hitl::storage_sqlite {

using sdk::Status;
using storage_common::check_blob_name;

namespace {
// Runs a blob write on the writer connection under its lock, turning exceptions into a Status.
template <class Body>
Status on_writer(std::mutex& mu, const char* what, Body&& body) noexcept {
  try {
    std::lock_guard lock(mu);
    body();
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    return Status::Error(code_for(e), std::string("storage-sqlite: ") + what + " failed: " + e.what());
  } catch (const std::exception& e) {
    return Status::Error(sdk::Code::internal, std::string("storage-sqlite: ") + what + " failed: " + e.what());
  }
}
}  // namespace

Status SqliteStorage::put_blob(const std::string& name, const std::string& bytes, std::int64_t updated_ms) noexcept {
  if (Status st = check_blob_name(name, "storage-sqlite", "put_blob"); !st.ok()) return st;
  return on_writer(write_mu_, "put_blob", [&] {
    const std::string sha256 = AuditHasher().sha256_hex(bytes);
    SQLite::Statement put(*wdb_,
                          "INSERT INTO blobs(name, bytes, size, sha256, updated_ms) VALUES(?, ?, ?, ?, ?) "
                          "ON CONFLICT(name) DO UPDATE SET bytes = excluded.bytes, size = excluded.size, "
                          "sha256 = excluded.sha256, updated_ms = excluded.updated_ms");
    put.bindNoCopy(1, name);
    put.bindNoCopy(2, bytes.data(), static_cast<int>(bytes.size()));
    put.bind(3, static_cast<std::int64_t>(bytes.size()));
    put.bind(4, sha256);
    put.bind(5, updated_ms);
    put.exec();
  });
}

Status SqliteStorage::get_blob(const std::string& name, std::optional<std::string>& out) noexcept {
  out.reset();
  if (Status st = check_blob_name(name, "storage-sqlite", "get_blob"); !st.ok()) return st;
  return rows("get_blob", Query("SELECT bytes FROM blobs").where("name = ?", name), [&](const SQLite::Statement& s) {
    const auto col = s.getColumn(0);
    out.emplace(static_cast<const char*>(col.getBlob()), static_cast<std::size_t>(col.getBytes()));
    return false;
  });
}

// The names from `prefix` on, in byte order, while they start with it: one index range.
Status SqliteStorage::list_blobs(const std::string& prefix, std::vector<sdk::BlobInfo>& out) noexcept {
  out.clear();
  if (Status st = storage_common::check_blob_prefix(prefix, "storage-sqlite"); !st.ok()) return st;
  Query q = Query("SELECT name, size, sha256, updated_ms FROM blobs").where("name >= ?", prefix);
  q.text += " ORDER BY name";
  return rows("list_blobs", q, [&](const SQLite::Statement& s) {
    sdk::BlobInfo b{s.getColumn(0).getString(), s.getColumn(1).getInt64(), s.getColumn(2).getString(), s.getColumn(3).getInt64()};
    if (!storage_common::has_prefix(b.name, prefix)) return false;
    out.push_back(std::move(b));
    return true;
  });
}

Status SqliteStorage::delete_blob(const std::string& name) noexcept {
  if (Status st = check_blob_name(name, "storage-sqlite", "delete_blob"); !st.ok()) return st;
  return on_writer(write_mu_, "delete_blob", [&] {
    SQLite::Statement del(*wdb_, "DELETE FROM blobs WHERE name = ?");
    del.bindNoCopy(1, name);
    del.exec();
  });
}

}  // namespace hitl::storage_sqlite
