// WAL checkpoints off the write path. SQLite's default checkpoints inside the commit that takes
// the WAL past 1000 pages: that commit then copies the pages into the database file and fsyncs
// it, and every caller waiting on the writer (an HTTP request, an ingest chunk) waits with it.
// At a million decisions the copy is scattered over a 1.4 GB file and the fsync long: it was the
// tail of HTTP intake at 1M pending and 8 % of `hitl ingest`'s CPU on the writer thread, which
// bounds the ingest rate (docs/performance.md). The Checkpointer replaces that hook on the
// writer connection: past kBackgroundFrames it wakes its own thread, which checkpoints (PASSIVE:
// never blocks the writer or the readers) through its own connection. The WAL starts over only
// when a write transaction begins after a checkpoint copied every frame, which a writer that
// commits without pause rarely lets the thread finish: past kInlineFrames the commit checkpoints
// itself as SQLite would, copying only what the thread has not (little: the cost stays off the
// write path), and the next transaction starts the WAL over. So the WAL file stays under
// ~kInlineFrames pages (40 MB) whatever happens.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;
namespace SQLite { class Database; }

namespace hitl::storage_sqlite {

class Checkpointer {
 public:
  static constexpr int kBackgroundFrames = 1000;  // SQLite's own autocheckpoint default
  static constexpr int kInlineFrames = 10000;     // ~40 MB of WAL with 4 KiB pages

  // Opens its own connection to `path` (same synchronous setting as the writer) and takes over
  // the WAL hook of `writer`, which must outlive it.
  Checkpointer(const std::string& path, bool synchronous_full, int busy_timeout_ms, SQLite::Database& writer);
  ~Checkpointer();  // gives the hook back to SQLite's default, stops the thread
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int frames);
  void run();

  std::unique_ptr<SQLite::Database> db_;  // the thread's own connection
  sqlite3* writer_;
  std::mutex checkpoint_mu_;  // held by whichever connection checkpoints
  std::mutex mu_;             // guards wanted_ and stopping_
  std::condition_variable cv_;
  bool wanted_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace hitl::storage_sqlite
