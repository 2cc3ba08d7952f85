#pragma once
// Whole-file I/O for the learning loop's on-disk stores (dataset versions, model registry), which
// must never rewrite what they recorded. All throw std::runtime_error naming the path.
#include <cstdint>
#include <filesystem>
#include <string>

namespace hitl {

std::string read_whole_file(const std::filesystem::path& p);
// Creates `target` with `text`, never replacing an existing file: a temporary is hard-linked into
// place (link() fails when the name exists) and removed.
void write_new_file(const std::filesystem::path& target, const std::string& text);
// Replaces `target` atomically: readers see the old content or the new, never part of either.
void replace_file(const std::filesystem::path& target, const std::string& text);

// What a file looked like when last seen (modification time and size), so a poller notices a
// change without reading the file (the model and policy reloads of `hitl serve`).
struct FileStamp {
  std::filesystem::path path;
  std::filesystem::file_time_type mtime{};
  std::uintmax_t size = 0;
  // Whether the file differs from the stamp (it is then stamped again: a change is seen once).
  // A file that cannot be read right now (being replaced, gone) has not changed.
  bool changed();
};

// An exclusive lock on a folder (flock on `<dir>/.lock`, created with the folder), held for the
// object's life: the writers of one registry or dataset folder (the service's retrain worker,
// `hitl retrain`, `hitl model promote`) take turns instead of racing for the next id. Blocks
// until it is free; not re-entrant (a second lock of the same folder in one thread deadlocks).
class DirLock {
 public:
  explicit DirLock(const std::filesystem::path& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace hitl
