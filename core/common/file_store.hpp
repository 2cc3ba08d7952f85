#pragma once
// Where the learning loop keeps its files -- the model registry (core/registry) and the dataset
// versions and marked golden cases (core/dataset) -- chosen once, at start:
//  - a folder of this machine (the default: one instance, or several on a shared mount);
//  - the storage's named blobs (storage 1.3), when instances share one database (`hitl serve` on
//    PostgreSQL: cluster/cluster.hpp), so a model trained or promoted on one instance is there for
//    every other one. Blob `<prefix><rel>` holds file `<rel>`; a folder of this machine keeps a
//    cache of the blobs something must load from a path (a model artifact).
// The registry and the dataset store ask file_store_at(their folder) and never which it is.
#include <hitl/plugin_api.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl {

// Paths inside a store are relative, '/'-separated: "<domain>/<file>". Every method throws
// std::runtime_error naming the file on failure.
class FileStore {
 public:
  virtual ~FileStore() = default;
  // The file's bytes; nullopt when there is no such file.
  virtual std::optional<std::string> read(const std::string& rel) const = 0;
  // Creates the file; refuses (throws) when it exists.
  virtual void write_new(const std::string& rel, const std::string& bytes) = 0;
  // Creates or replaces the file at once: a reader sees the old bytes or the new.
  virtual void replace(const std::string& rel, const std::string& bytes) = 0;
  virtual void append(const std::string& rel, const std::string& text) = 0;
  virtual void remove(const std::string& rel) = 0;  // absent: nothing to do
  // The names directly inside `folder` ("" = the top), files and folders, sorted.
  virtual std::vector<std::string> list(const std::string& folder) const = 0;
  // Holds the other writers of `folder` off until the returned object goes: a folder's DirLock
  // (other processes of this machine too), the blobs' lock across the instances sharing them
  // (the Locker they were bound with), a mutex in memory. Not reentrant.
  virtual std::shared_ptr<void> lock(const std::string& folder) = 0;
  // A file of this machine with the bytes of `rel`, for what loads from a path (a model plugin):
  // the file itself, or the blob written to the cache once its SHA-256 matched the one the
  // storage recorded. Throws when there is no such file, or its bytes were altered.
  virtual std::filesystem::path local(const std::string& rel) = 0;
  // How messages name `rel`: its path, or "blob <name>".
  virtual std::string describe(const std::string& rel) const = 0;
};

// The store of `dir`: the storage's blobs when share_through_blobs bound it, else the folder.
std::shared_ptr<FileStore> file_store_at(const std::filesystem::path& dir);

// A lock named by a blob folder's full name ("registry/loans") held across every instance that
// shares the blobs until the returned object goes (cluster::Cluster::lock); throws when it
// cannot be taken.
using Locker = std::function<std::shared_ptr<void>(const std::string& name)>;

// The blobs named `prefix` + rel of `storage` (whose plugin must be storage 1.3 or later), their
// folders locked with `locker`, `cache` the folder local() writes to. The storage is held
// weakly: once it is gone the store refuses every call.
std::shared_ptr<FileStore> blob_store(std::filesystem::path cache, std::weak_ptr<sdk::Storage> storage, std::string prefix,
                                      Locker locker);
// Files in this process's memory, gone with the last copy of the pointer (what an instance
// alone keeps only while it runs). local() refuses: nothing loads from them.
std::shared_ptr<FileStore> memory_store();

// From now on file_store_at(dir) is blob_store(dir, storage, prefix, locker); until stop_sharing(dir).
void share_through_blobs(const std::filesystem::path& dir, std::weak_ptr<sdk::Storage> storage, std::string prefix,
                         Locker locker);
void stop_sharing(const std::filesystem::path& dir);

}  // namespace hitl
