// Storage 1.3's named blobs, on both backends: bytes kept exactly (NUL and high bytes included),
// replaced whole, listed by prefix in name order with the size and SHA-256 the plugin computed,
// deleted, seen by a second storage object on the same database, and names the rule refuses.
#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>
#include "storage_testing.hpp"

#include <atomic>
#include <thread>

namespace sdk = hitl::sdk;

namespace {
using namespace storage_testing;

// SHA-256 test vectors (FIPS 180-2).
constexpr const char* kSha256Abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kSha256Empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

void put_ok(sdk::Storage& s, const std::string& name, const std::string& bytes, std::int64_t ms = 1000) {
  const auto st = s.put_blob(name, bytes, ms);
  INFO(st.message);
  REQUIRE(st.ok());
}

std::optional<std::string> get(sdk::Storage& s, const std::string& name) {
  std::optional<std::string> out;
  const auto st = s.get_blob(name, out);
  INFO(st.message);
  REQUIRE(st.ok());
  return out;
}

std::vector<sdk::BlobInfo> listed(sdk::Storage& s, const std::string& prefix) {
  std::vector<sdk::BlobInfo> out;
  const auto st = s.list_blobs(prefix, out);
  INFO(st.message);
  REQUIRE(st.ok());
  return out;
}

std::vector<std::string> names(const std::vector<sdk::BlobInfo>& infos) {
  std::vector<std::string> out;
  for (auto& b : infos) out.push_back(b.name);
  return out;
}

}  // namespace

TEST_CASE("a blob's bytes come back exactly, and a put replaces them whole") {
  TempDir dir;
  auto s = open(db_of(dir));
  CHECK_FALSE(get(*s, "registry/credit/m1.artifact"));
  const std::string binary("\0\x01\xff\xfe{\"w\":[1,2]}\n\0", 16);
  put_ok(*s, "registry/credit/m1.artifact", binary, 1111);
  CHECK(get(*s, "registry/credit/m1.artifact") == binary);
  put_ok(*s, "registry/credit/m1.artifact", "abc", 2222);
  CHECK(get(*s, "registry/credit/m1.artifact") == std::string("abc"));
  const auto infos = listed(*s, "registry/credit/");
  REQUIRE(infos.size() == 1);
  CHECK(infos[0].size == 3);
  CHECK(infos[0].sha256 == kSha256Abc);
  CHECK(infos[0].updated_ms == 2222);
  put_ok(*s, "empty", "");
  CHECK(get(*s, "empty") == std::string());
  CHECK(listed(*s, "empty")[0].sha256 == kSha256Empty);
  // Megabytes, as a model artifact can be.
  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  put_ok(*s, "registry/credit/big.artifact", big);
  CHECK(get(*s, "registry/credit/big.artifact") == big);
}

TEST_CASE("list_blobs lists the names under a prefix in name order, without the names beside it") {
  TempDir dir;
  auto s = open(db_of(dir));
  for (const char* n : {"registry/b/m2.json", "registry/a/m1.json", "registry/ab/m1.json", "registry/a/m10.json",
                        "registry/a/live.json", "datasets/a/a-v1.json", "registry/a"})
    put_ok(*s, n, n);
  CHECK(names(listed(*s, "registry/a/")) ==
        std::vector<std::string>{"registry/a/live.json", "registry/a/m1.json", "registry/a/m10.json"});
  CHECK(names(listed(*s, "registry/a")) == std::vector<std::string>{"registry/a", "registry/a/live.json", "registry/a/m1.json",
                                                                     "registry/a/m10.json", "registry/ab/m1.json"});
  CHECK(listed(*s, "").size() == 7);
  CHECK(listed(*s, "zzz").empty());
  CHECK(listed(*s, "datasets/")[0].size == static_cast<std::int64_t>(std::string("datasets/a/a-v1.json").size()));
}

TEST_CASE("delete_blob removes a blob, and deleting an absent one is fine") {
  TempDir dir;
  auto s = open(db_of(dir));
  put_ok(*s, "datasets/a/golden.jsonl", "{}\n");
  REQUIRE(s->delete_blob("datasets/a/golden.jsonl").ok());
  CHECK_FALSE(get(*s, "datasets/a/golden.jsonl"));
  CHECK(listed(*s, "datasets/").empty());
  CHECK(s->delete_blob("datasets/a/golden.jsonl").ok());
}

TEST_CASE("a blob put through one storage object is read through another on the same database") {
  TempDir dir;
  auto a = open(db_of(dir)), b = open(db_of(dir));
  put_ok(*a, "registry/d/live.json", "{\"id\":\"d-m1\"}");
  CHECK(get(*b, "registry/d/live.json") == std::string("{\"id\":\"d-m1\"}"));
  put_ok(*b, "registry/d/live.json", "{\"id\":\"d-m2\"}");
  CHECK(get(*a, "registry/d/live.json") == std::string("{\"id\":\"d-m2\"}"));
}

TEST_CASE("a reader sees a blob's old bytes or its new ones, never a mix") {
  TempDir dir;
  auto writer = open(db_of(dir)), reader = open(db_of(dir));
  const std::string x(200'000, 'x'), y(300'000, 'y');
  put_ok(*writer, "job/state", x);
  std::atomic<bool> done{false};
  std::thread puts([&] {
    for (int i = 0; i < 20; ++i) writer->put_blob("job/state", i % 2 ? x : y, i);
    done = true;
  });
  int reads = 0, torn = 0;
  while (!done || reads == 0) {
    std::optional<std::string> got;
    if (!reader->get_blob("job/state", got).ok() || !got) continue;
    ++reads;
    if (*got != x && *got != y) ++torn;
  }
  puts.join();
  CHECK(reads > 0);
  CHECK(torn == 0);
}

TEST_CASE("blob names that are empty, too long, hold a NUL or are not UTF-8 are refused") {
  TempDir dir;
  auto s = open(db_of(dir));
  const std::string at_limit(512, 'n');
  put_ok(*s, at_limit, "ok");
  CHECK(get(*s, at_limit) == std::string("ok"));
  put_ok(*s, "modèles/crédit", "ok");  // UTF-8 beyond ASCII is a name like any other
  CHECK(get(*s, "modèles/crédit") == std::string("ok"));
  for (const std::string& bad : {std::string(), std::string(513, 'n'), std::string("a\0b", 3), std::string("caf\xe9"),
                                 std::string("\xc0\xaf")}) {
    INFO("name of " << bad.size() << " bytes");
    const auto put = s->put_blob(bad, "x", 1);
    CHECK(put.code == sdk::Code::invalid_argument);
    CHECK_THAT(put.message, Catch::Contains("put_blob: the blob name"));
    std::optional<std::string> out;
    CHECK(s->get_blob(bad, out).code == sdk::Code::invalid_argument);
    CHECK(s->delete_blob(bad).code == sdk::Code::invalid_argument);
  }
  std::vector<sdk::BlobInfo> out;
  CHECK(s->list_blobs(std::string("a\0", 2), out).code == sdk::Code::invalid_argument);
  // The refused names wrote nothing: "a" (the part before the NUL) is not there.
  CHECK_FALSE(get(*s, "a"));
  CHECK(listed(*s, "").size() == 2);
}
