// WAL checkpoints (src/checkpointer.hpp): they run on the storage's own thread, not inside the
// commits, and still keep the WAL from growing without bound.
#include "storage_testing.hpp"

#include <chrono>
#include <string>
#include <thread>

using namespace storage_testing;

namespace {

constexpr std::uintmax_t kFrameBytes = 4096 + 24;  // a page and its WAL frame header

std::uintmax_t size_of(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// `count` decisions (ids from `from`) whose input takes most of a page each, 100 a commit.
void write_pages(sdk::Storage& s, int count, int from) {
  const std::string blob(3500, 'x');
  for (int first = from; first < from + count; first += 100) {
    sdk::WriteBatch b;
    for (int i = first; i < first + 100; ++i) {
      sdk::NewDecision nd;
      nd.decision.domain = "credit";
      nd.decision.id = "w-" + std::to_string(i);
      nd.decision.status = "auto_approved";
      nd.decision.input_json = R"({"blob":")" + blob + R"("})";
      nd.decision.created_ms = 1000 + i;
      b.decisions.push_back(std::move(nd));
    }
    auto st = s.commit(b);
    INFO(st.message);
    REQUIRE(st.ok());
  }
}

// Waits (bounded) until the database file holds at least `bytes`: the checkpointer runs behind
// the commits.
std::uintmax_t wait_for_size(const std::string& db, std::uintmax_t bytes) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (size_of(db) < bytes && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return size_of(db);
}

}  // namespace

TEST_CASE("WAL checkpoints run behind the commits and the WAL stays bounded", "[sqlite-only]") {
  TempDir dir;
  const std::string db = db_of(dir);
  auto s = open(db);
  // 6000 pages: past the 1000 frames that wake the checkpointer, below the 10000 at which a
  // commit checkpoints itself. Only the checkpointer's thread can have copied them.
  write_pages(*s, 6000, 0);
  INFO("WAL " << size_of(db + "-wal") << " bytes");
  CHECK(wait_for_size(db, 4500 * 3500ull) >= 4500 * 3500ull);
  // 14000 more: the WAL starts over at the inline bound at the latest, never holds them all.
  write_pages(*s, 14000, 6000);
  CHECK(size_of(db + "-wal") < 12000 * kFrameBytes);
  CHECK(wait_for_size(db, 18000 * 3500ull) >= 18000 * 3500ull);
  std::optional<sdk::DecisionRecord> last;
  REQUIRE(s->get_decision("credit", "w-19999", last).ok());
  CHECK(last);
}
