// FindBatcher (src/pg_find_batcher.hpp): asks made at once on many threads are read together, and
// each asker gets exactly its own answers, in its order, whatever it was read with.
#include "pg_find_batcher.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using hitl::storage_postgres::FindBatcher;
namespace sdk = hitl::sdk;

namespace {

// A stored id is "<domain>:<n>" with an even n: its label says which domain and id it answers.
struct FakeStore {
  std::atomic<int> reads{0};
  std::atomic<std::size_t> most_ids{0};
  std::atomic<bool> fail{false};
  FindBatcher::Read read() {
    return [this](const std::string& domain, const std::vector<std::string>& ids, FindBatcher::Found& out) {
      ++reads;
      if (ids.size() > most_ids) most_ids = ids.size();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a round trip: others arrive meanwhile
      if (fail) return sdk::Status::Error(sdk::Code::unavailable, "server gone");
      out.assign(ids.size(), std::nullopt);
      for (std::size_t i = 0; i < ids.size(); ++i)
        if (std::stoi(ids[i].substr(ids[i].find(':') + 1)) % 2 == 0) {
          sdk::DecisionRecord d;
          d.domain = domain;
          d.id = ids[i];
          d.label = domain + "/" + ids[i];
          out[i] = d;
        }
      return sdk::Status::Ok();
    };
  }
};

}  // namespace

TEST_CASE("find batcher: 16 threads asking at once each get their own answers, read in fewer statements") {
  FakeStore store;
  FindBatcher batcher(store.read());
  constexpr int kThreads = 16, kAsks = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const std::string domain = t % 2 ? "a" : "b";
      for (int k = 0; k < kAsks; ++k) {
        // One to three ids; the same id may come twice within an ask.
        std::vector<std::string> ids{domain + ":" + std::to_string(t * 1000 + k)};
        if (k % 3 == 0) ids.push_back(domain + ":" + std::to_string(t * 1000 + k + 1));
        if (k % 5 == 0) ids.push_back(ids.front());
        FindBatcher::Found out;
        if (!batcher.find(domain, ids, out).ok() || out.size() != ids.size()) {
          ++wrong;
          continue;
        }
        for (std::size_t i = 0; i < ids.size(); ++i) {
          const bool stored = std::stoi(ids[i].substr(ids[i].find(':') + 1)) % 2 == 0;
          if (stored != out[i].has_value() || (stored && out[i]->label != domain + "/" + ids[i])) ++wrong;
        }
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(store.reads < kThreads * kAsks);  // asks that waited went together
  CHECK(store.most_ids > 3);              // more than one ask's ids in one read
}

TEST_CASE("find batcher: a failed read fails every ask read with it, and the next asks read again") {
  FakeStore store;
  FindBatcher batcher(store.read());
  store.fail = true;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      FindBatcher::Found out;
      if (batcher.find("a", {"a:" + std::to_string(2 * t)}, out).code == sdk::Code::unavailable) ++failed;
    });
  for (auto& t : threads) t.join();
  CHECK(failed == 8);
  store.fail = false;
  FindBatcher::Found out;
  REQUIRE(batcher.find("a", {"a:2", "a:3"}, out).ok());
  REQUIRE(out.size() == 2);
  CHECK(out[0].has_value());
  CHECK_FALSE(out[1].has_value());
}

TEST_CASE("find batcher: asks past kMaxIds ids are read apart, a larger one alone") {
  FakeStore store;
  FindBatcher batcher(store.read());
  std::vector<std::string> big;
  for (std::size_t i = 0; i < FindBatcher::kMaxIds + 5; ++i) big.push_back("a:" + std::to_string(i));
  FindBatcher::Found out;
  REQUIRE(batcher.find("a", big, out).ok());
  REQUIRE(out.size() == big.size());
  CHECK(out[0].has_value());
  CHECK_FALSE(out[1].has_value());
  CHECK(store.most_ids == big.size());
}

TEST_CASE("find batcher: a read that throws fails its asks with an error, and later asks are read (nobody left waiting)") {
  std::atomic<bool> throwing{true};
  FindBatcher batcher([&](const std::string&, const std::vector<std::string>& ids, FindBatcher::Found& out) {
    if (throwing) throw std::runtime_error("out of memory building the array");
    out.assign(ids.size(), std::nullopt);
    return sdk::Status::Ok();
  });
  FindBatcher::Found out;
  const auto st = batcher.find("a", {"a:1"}, out);
  CHECK(st.code == sdk::Code::internal);
  CHECK_THAT(st.message, Catch::Contains("out of memory building the array"));
  throwing = false;
  REQUIRE(batcher.find("a", {"a:1"}, out).ok());  // hangs when the failed read left the batcher reading
  CHECK(out.size() == 1);
}
