#include "checkpointer.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

namespace hitl::storage_sqlite {

Checkpointer::Checkpointer(const std::string& path, bool synchronous_full, int busy_timeout_ms,
                           SQLite::Database& writer)
    : db_(std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, busy_timeout_ms)),
      writer_(writer.getHandle()) {
  // A checkpoint fsyncs by the connection's setting: the same durability as the writer's.
  db_->exec(synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  thread_ = std::thread([this] { run(); });
  sqlite3_wal_hook(writer_, &Checkpointer::on_commit, this);  // replaces the autocheckpoint hook
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_autocheckpoint(writer_, kBackgroundFrames);  // SQLite's default hook again
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

// Runs on the writer's thread after each commit, with the WAL's size in frames.
int Checkpointer::on_commit(void* self, sqlite3* db, const char* schema, int frames) {
  auto* c = static_cast<Checkpointer*>(self);
  if (frames >= kInlineFrames) {
    // From the writer itself, after the thread's checkpoint in progress (it would make this one
    // SQLITE_BUSY): nothing appends meanwhile, so it copies every frame left and the next
    // transaction starts the WAL over. A failure here is not the commit's: the next one retries.
    std::lock_guard running(c->checkpoint_mu_);
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (frames >= kBackgroundFrames) {
    {
      std::lock_guard lock(c->mu_);
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return wanted_ || stopping_; });
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    // Copies what no reader still needs; SQLITE_BUSY (another checkpoint running) only means
    // the next commit asks again.
    {
      std::lock_guard running(checkpoint_mu_);
      sqlite3_wal_checkpoint_v2(db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    lock.lock();
  }
}

}  // namespace hitl::storage_sqlite
