// The single writer against the real SQLite storage plugin: concurrent submissions commit as one
// group, a failing submission in a group falls back to one-by-one commits without failing the
// others, and a repeated id is answered with the stored original and audited once.
#include "store/writer.hpp"

#include <catch2/catch.hpp>

#include "support/plugin_testing.hpp"
#include "support/temp_dir.hpp"

#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>

using hitl::service::Writer;
namespace sdk = hitl::sdk;

namespace {

std::shared_ptr<sdk::Storage> open_storage(const std::filesystem::path& dir) {
  const auto& d = hitl::test::plugin_descriptor("storage-sqlite.so");
  std::unique_ptr<sdk::Storage> s;
  const nlohmann::json config = {{"path", (dir / "hitl.db").string()}};
  auto st = d.create_storage(config.dump().c_str(), s);
  INFO(st.message);
  REQUIRE(st.ok());
  return std::shared_ptr<sdk::Storage>(std::move(s));
}

sdk::WriteBatch decision(const std::string& id) {
  sdk::NewDecision nd;
  nd.decision.domain = "d";
  nd.decision.id = id;
  nd.decision.status = "auto_approved";
  nd.decision.input_json = nd.decision.prediction_json = nd.decision.meta_json = "{}";
  nd.decision.created_ms = 1;
  sdk::AuditRecord a;
  a.ts_ms = 1;
  a.actor = "test";
  a.action = "decision.created";
  a.domain = "d";
  a.entity = "decision";
  a.entity_id = id;
  a.detail_json = "{}";
  nd.audit.push_back(a);
  sdk::WriteBatch b;
  b.decisions.push_back(std::move(nd));
  return b;
}

// Holds the writer thread inside its first commit's AfterCommit until release(), so everything
// submitted meanwhile is committed together as the next group.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
  void hold() {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void wait_entered() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

struct Outcome {
  sdk::Status status;
  sdk::WriteBatch batch;
};

std::future<Outcome> submit(Writer& w, sdk::WriteBatch b) {
  auto p = std::make_shared<std::promise<Outcome>>();
  auto f = p->get_future();
  w.submit(std::move(b), [p](const sdk::Status& st, sdk::WriteBatch& done) { p->set_value({st, std::move(done)}); });
  return f;
}

// A writer on a fresh database whose thread is held inside its first commit ("head") until
// gate.release(): what the test submits meanwhile is committed as the next group.
struct HeldWriter {
  hitl::test::TempDir dir{"hitl-writer"};
  std::shared_ptr<sdk::Storage> storage = open_storage(dir.path);
  Gate gate;
  bool first = true;
  Writer writer{storage, 2000, [this](sdk::WriteBatch&) {
                  if (std::exchange(first, false)) gate.hold();
                }};
  std::future<Outcome> head = submit(writer, decision("head"));
  HeldWriter() { gate.wait_entered(); }
  ~HeldWriter() { gate.release(); }  // a failed check must not leave the writer thread held
};

std::size_t audit_count(sdk::Storage& s) {
  std::vector<sdk::AuditRecord> out;
  sdk::AuditFilter f;
  f.limit = 100000;
  REQUIRE(s.list_audit(f, out).ok());
  return out.size();
}

}  // namespace

TEST_CASE("writer: submissions made while a commit runs are committed as one group", "[writer]") {
  HeldWriter h;
  auto& w = h.writer;
  auto& storage = h.storage;
  std::vector<std::future<Outcome>> rest;
  for (int i = 0; i < 50; ++i) rest.push_back(submit(w, decision("g" + std::to_string(i))));
  h.gate.release();
  CHECK(h.head.get().status.ok());
  for (auto& f : rest) CHECK(f.get().status.ok());
  CHECK(w.submissions() == 51);
  CHECK(w.commits() == 2);  // the head, then the 50 together
  CHECK(audit_count(*storage) == 51);
}

TEST_CASE("writer: a submission that fails inside a group fails alone, and the others commit one by one", "[writer]") {
  HeldWriter h;
  auto& w = h.writer;
  auto& storage = h.storage;
  auto a = submit(w, decision("a"));
  sdk::WriteBatch bad;  // a ground truth for a decision that does not exist: not_found, rolled back
  bad.truths.push_back({"d", "no-such-decision", "good", 5});
  auto b = submit(w, std::move(bad));
  auto c = submit(w, decision("c"));
  h.gate.release();
  CHECK(h.head.get().status.ok());
  CHECK(a.get().status.ok());
  const auto failed = b.get();
  CHECK(failed.status.code == sdk::Code::not_found);
  CHECK(c.get().status.ok());
  CHECK(w.commits() == 5);  // head, the failed group, then a, b and c alone
  for (const char* id : {"a", "c"}) {
    std::optional<sdk::DecisionRecord> d;
    REQUIRE(storage->get_decision("d", id, d).ok());
    CHECK(d.has_value());
  }
  CHECK(audit_count(*storage) == 3);  // head, a, c: the rolled-back attempt left nothing
}

TEST_CASE("writer: the same id twice in one group is stored and audited once", "[writer]") {
  HeldWriter h;
  auto& w = h.writer;
  auto& storage = h.storage;
  auto one = submit(w, decision("same"));
  auto two = submit(w, decision("same"));
  h.gate.release();
  CHECK(h.head.get().status.ok());
  auto first_try = one.get();
  auto second_try = two.get();
  REQUIRE(first_try.status.ok());
  REQUIRE(second_try.status.ok());
  CHECK_FALSE(first_try.batch.decisions[0].duplicate);
  CHECK(first_try.batch.decisions[0].audit[0].seq > 0);
  CHECK(second_try.batch.decisions[0].duplicate);
  CHECK(second_try.batch.decisions[0].audit[0].seq == 0);  // its creation record was not written
  CHECK(audit_count(*storage) == 2);
}

TEST_CASE("writer: the parts list of WriteBatch covers every part, for merging and splitting", "[writer]") {
  std::size_t parts = 0;
  sdk::for_each_part([&](auto part) {
    ++parts;
    sdk::WriteBatch one;
    (one.*part).emplace_back();
    CHECK_FALSE(one.empty());  // empty() (its own list) and the parts list agree
    CHECK(sdk::row_count(one) == 1);
    sdk::WriteBatch merged;
    (merged.*part).emplace_back();
    sdk::append(merged, std::move(one));
    CHECK(sdk::row_count(merged) == 2);
    CHECK((merged.*part).size() == 2);
    CHECK(one.empty());
  });
  CHECK(parts == sdk::kWriteBatchPartCount);
}
