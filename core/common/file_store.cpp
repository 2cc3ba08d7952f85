#include "common/file_store.hpp"

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/hash.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <chrono>
#include <thread>
#include <stdexcept>

namespace hitl {
namespace fs = std::filesystem;

namespace {

// The default: files under a folder of this machine.
class FolderStore final : public FileStore {
 public:
  explicit FolderStore(fs::path dir) : dir_(std::move(dir)) {}

  std::optional<std::string> read(const std::string& rel) const override {
    std::error_code ec;
    if (!fs::exists(dir_ / rel, ec)) return std::nullopt;
    return read_whole_file(dir_ / rel);
  }
  void write_new(const std::string& rel, const std::string& bytes) override {
    fs::create_directories((dir_ / rel).parent_path());
    write_new_file(dir_ / rel, bytes);
  }
  void replace(const std::string& rel, const std::string& bytes) override { replace_file(dir_ / rel, bytes); }
  void append(const std::string& rel, const std::string& text) override {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream out(dir_ / rel, std::ios::app | std::ios::binary);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot append to " + describe(rel));
  }
  void remove(const std::string& rel) override {
    std::error_code ec;
    fs::remove(dir_ / rel, ec);
  }
  // Hidden names (the folder's .lock, a write's .tmp) are not the store's files.
  std::vector<std::string> list(const std::string& folder) const override {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(dir_ / folder, ec)) return out;
    for (auto& e : fs::directory_iterator(dir_ / folder)) {
      std::string name = e.path().filename().string();
      if (name.front() != '.' && !name.ends_with(".tmp")) out.push_back(std::move(name));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::shared_ptr<void> lock(const std::string& folder) override { return std::make_shared<DirLock>(dir_ / folder); }
  fs::path local(const std::string& rel) override {
    std::error_code ec;
    if (!fs::exists(dir_ / rel, ec)) throw std::runtime_error("no file " + describe(rel));
    return dir_ / rel;
  }
  std::string describe(const std::string& rel) const override { return (dir_ / rel).string(); }

 private:
  const fs::path dir_;
};

// Instances sharing a database: blob `prefix_ + rel`, cached under `cache_` when loaded from a path.
class BlobStore final : public FileStore {
 public:
  BlobStore(fs::path cache, std::weak_ptr<sdk::Storage> storage, std::string prefix, Locker locker)
      : cache_(std::move(cache)), storage_(std::move(storage)), prefix_(std::move(prefix)), locker_(std::move(locker)) {}

  std::optional<std::string> read(const std::string& rel) const override;
  void write_new(const std::string& rel, const std::string& bytes) override {
    if (info(rel)) throw std::runtime_error(describe(rel) + " exists already (never overwritten)");
    replace(rel, bytes);
  }
  void replace(const std::string& rel, const std::string& bytes) override {
    check(storage()->put_blob(prefix_ + rel, bytes, now_ms()), "cannot write", rel);
  }
  // Blobs have no append: the whole is written again (a history, a golden set: small texts).
  void append(const std::string& rel, const std::string& text) override { replace(rel, read(rel).value_or("") + text); }
  void remove(const std::string& rel) override { check(storage()->delete_blob(prefix_ + rel), "cannot delete", rel); }
  std::vector<std::string> list(const std::string& folder) const override;
  std::shared_ptr<void> lock(const std::string& folder) override { return locker_(prefix_ + folder); }
  fs::path local(const std::string& rel) override;
  std::string describe(const std::string& rel) const override { return "blob " + prefix_ + rel; }

 private:
  std::shared_ptr<sdk::Storage> storage() const {
    auto s = storage_.lock();
    if (!s) throw std::runtime_error("the storage holding the blobs " + prefix_ + "* is closed");
    return s;
  }
  void check(const sdk::Status& st, const char* what, const std::string& rel) const {
    if (!st.ok()) throw std::runtime_error(std::string(what) + " " + describe(rel) + ": " + st.message);
  }
  std::vector<sdk::BlobInfo> under(const std::string& name_prefix) const {
    std::vector<sdk::BlobInfo> out;
    check(storage()->list_blobs(name_prefix, out), "cannot list", name_prefix.substr(prefix_.size()));
    return out;
  }
  std::optional<sdk::BlobInfo> info(const std::string& rel) const {
    for (auto& b : under(prefix_ + rel))
      if (b.name == prefix_ + rel) return b;
    return std::nullopt;
  }

  const fs::path cache_;
  const std::weak_ptr<sdk::Storage> storage_;
  const std::string prefix_;
  const Locker locker_;
};

// The bytes, checked against the SHA-256 the storage computed when they were put: bytes altered
// in the database since are refused, not used. The bytes and the hash are two reads, so another
// instance replacing the blob between them shows as a mismatch too: read again. Bytes are
// refused as altered only when the record did not change from one read to the next (so nothing
// was written meanwhile) and they still do not match it.
std::optional<std::string> BlobStore::read(const std::string& rel) const {
  constexpr int kReads = 8;
  std::optional<sdk::BlobInfo> before;
  for (int attempt = 1; attempt <= kReads; ++attempt) {
    std::optional<std::string> bytes;
    check(storage()->get_blob(prefix_ + rel, bytes), "cannot read", rel);
    if (!bytes) return std::nullopt;
    const auto recorded = info(rel);
    if (!recorded) return std::nullopt;  // deleted between the two reads
    if (sha256_hex(*bytes) == recorded->sha256) return bytes;
    if (before && before->sha256 == recorded->sha256 && before->updated_ms == recorded->updated_ms)
      throw std::runtime_error(describe(rel) + ": its bytes do not match the SHA-256 recorded when it was stored "
                               "(altered in the database): refused");
    before = recorded;
    // A writer rewriting the blob without pause could otherwise win every round: give it room.
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt));
  }
  throw std::runtime_error("cannot read " + describe(rel) + ": it was replaced during each of " + std::to_string(kReads) +
                           " reads");
}

std::vector<std::string> BlobStore::list(const std::string& folder) const {
  const std::string from = prefix_ + (folder.empty() ? "" : folder + "/");
  std::set<std::string> names;
  for (auto& b : under(from)) {
    const std::string rest = b.name.substr(from.size());
    names.insert(rest.substr(0, rest.find('/')));
  }
  names.erase("");
  return {names.begin(), names.end()};
}

fs::path BlobStore::local(const std::string& rel) {
  const auto bytes = read(rel);
  if (!bytes) throw std::runtime_error("no " + describe(rel));
  const fs::path file = cache_ / rel;
  std::error_code ec;
  if (!fs::exists(file, ec) || read_whole_file(file) != *bytes) replace_file(file, *bytes);
  return file;
}

// Files in memory: one map behind one mutex, and a mutex per locked folder.
class MemoryStore final : public FileStore {
 public:
  std::optional<std::string> read(const std::string& rel) const override {
    std::lock_guard guard(mu_);
    auto it = files_.find(rel);
    return it == files_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  void write_new(const std::string& rel, const std::string& bytes) override {
    std::lock_guard guard(mu_);
    if (!files_.emplace(rel, bytes).second) throw std::runtime_error(describe(rel) + " exists already (never overwritten)");
  }
  void replace(const std::string& rel, const std::string& bytes) override {
    std::lock_guard guard(mu_);
    files_[rel] = bytes;
  }
  void append(const std::string& rel, const std::string& text) override {
    std::lock_guard guard(mu_);
    files_[rel] += text;
  }
  void remove(const std::string& rel) override {
    std::lock_guard guard(mu_);
    files_.erase(rel);
  }
  std::vector<std::string> list(const std::string& folder) const override;
  std::shared_ptr<void> lock(const std::string& folder) override;
  fs::path local(const std::string& rel) override { throw std::runtime_error(describe(rel) + " is in memory: no file to load"); }
  std::string describe(const std::string& rel) const override { return "memory file " + rel; }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> files_;                   // by rel, so a folder's files are adjacent
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;  // by folder
};

std::vector<std::string> MemoryStore::list(const std::string& folder) const {
  const std::string from = folder.empty() ? "" : folder + "/";
  std::set<std::string> names;
  std::lock_guard guard(mu_);
  for (auto it = files_.lower_bound(from); it != files_.end() && it->first.starts_with(from); ++it) {
    const std::string rest = it->first.substr(from.size());
    names.insert(rest.substr(0, rest.find('/')));
  }
  return {names.begin(), names.end()};
}

std::shared_ptr<void> MemoryStore::lock(const std::string& folder) {
  std::shared_ptr<std::mutex> m;
  {
    std::lock_guard guard(mu_);
    auto& slot = locks_[folder];
    if (!slot) slot = std::make_shared<std::mutex>();
    m = slot;
  }
  m->lock();
  return std::shared_ptr<void>(m.get(), [m](std::mutex* held) { held->unlock(); });
}

struct Binding {
  std::weak_ptr<sdk::Storage> storage;
  std::string prefix;
  Locker locker;
};
std::mutex bindings_mu;
std::map<fs::path, Binding> bindings;  // by the folder's absolute, normal form

fs::path key_of(const fs::path& dir) { return fs::absolute(dir).lexically_normal(); }

}  // namespace

std::shared_ptr<FileStore> file_store_at(const fs::path& dir) {
  std::lock_guard lock(bindings_mu);
  if (auto it = bindings.find(key_of(dir)); it != bindings.end())
    return std::make_shared<BlobStore>(dir, it->second.storage, it->second.prefix, it->second.locker);
  return std::make_shared<FolderStore>(dir);
}

std::shared_ptr<FileStore> blob_store(fs::path cache, std::weak_ptr<sdk::Storage> storage, std::string prefix,
                                      Locker locker) {
  return std::make_shared<BlobStore>(std::move(cache), std::move(storage), std::move(prefix), std::move(locker));
}

std::shared_ptr<FileStore> memory_store() { return std::make_shared<MemoryStore>(); }

void share_through_blobs(const fs::path& dir, std::weak_ptr<sdk::Storage> storage, std::string prefix, Locker locker) {
  std::lock_guard lock(bindings_mu);
  bindings[key_of(dir)] = Binding{std::move(storage), std::move(prefix), std::move(locker)};
}

void stop_sharing(const fs::path& dir) {
  std::lock_guard lock(bindings_mu);
  bindings.erase(key_of(dir));
}

}  // namespace hitl
