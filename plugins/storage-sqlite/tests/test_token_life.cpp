// Storage 1.1's token life cycle in storage-sqlite: expiry written with the token, revocation
// and replacement as the list shows them, last uses only ever moving forward, and migration 6
// carrying the tokens of an older file over; storage 1.3's export of every token with its hash.
#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>
#include "storage_testing.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

namespace sdk = hitl::sdk;

namespace {
using namespace storage_testing;

void commit_tokens_ok(sdk::Storage& s, std::vector<sdk::TokenRecord> tokens, std::vector<sdk::TokenExpiry> expiries = {}) {
  sdk::WriteBatch b;
  b.tokens = std::move(tokens);
  auto st = s.commit_tokens(b, expiries);
  INFO(st.message);
  REQUIRE(st.ok());
}

sdk::TokenInfo info_of(sdk::Storage& s, const std::string& hash) {
  std::optional<sdk::TokenInfo> t;
  REQUIRE(s.find_token_info(hash, t).ok());
  REQUIRE(t);
  return *t;
}

sdk::TokenInfo listed(sdk::Storage& s, const std::string& name) {
  std::vector<sdk::TokenInfo> all;
  REQUIRE(s.list_tokens(all).ok());
  for (auto& t : all)
    if (t.name == name) return t;
  FAIL("no token " << name);
  return {};
}

}  // namespace

TEST_CASE("token life: the expiry is stored with the token it names, found by hash and listed") {
  TempDir dir;
  auto s = open(db_of(dir));
  commit_tokens_ok(*s, {{"ops", "admin", "", "h-1", 10, false}, {"alice", "reviewer", "a,b", "h-2", 11, false}},
                   {{"h-2", 5000}});
  const auto alice = info_of(*s, "h-2");
  CHECK(alice.name == "alice");
  CHECK(alice.role == "reviewer");
  CHECK(alice.domains == "a,b");
  CHECK(alice.created_ms == 11);
  CHECK(alice.expires_ms == 5000);
  CHECK(alice.last_used_ms == 0);
  CHECK(alice.revoked_ms == 0);
  CHECK(info_of(*s, "h-1").expires_ms == 0);
  std::optional<sdk::TokenInfo> none;
  REQUIRE(s->find_token_info("unknown", none).ok());
  CHECK_FALSE(none);
  // The expiry row is consumed by the token it names.
  CHECK(count_rows(db_of(dir), "token_expiries") == 0);

  std::vector<sdk::TokenInfo> all;
  REQUIRE(s->list_tokens(all).ok());
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "alice");  // by name
  CHECK(all[1].name == "ops");
}

TEST_CASE("token life: a failed batch leaves no usable token, and its expiry matches nothing") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.tokens.push_back({"", "admin", "", "h-9", 10, false});  // refused: empty name
  CHECK_FALSE(s->commit_tokens(b, {{"h-9", 5000}}).ok());
  std::optional<sdk::TokenInfo> t;
  REQUIRE(s->find_token_info("h-9", t).ok());
  CHECK_FALSE(t);
}

TEST_CASE("token life: revocation keeps what the token was, replacement starts afresh") {
  TempDir dir;
  auto s = open(db_of(dir));
  commit_tokens_ok(*s, {{"alice", "reviewer", "a", "h-1", 10, false}}, {{"h-1", 9000}});
  REQUIRE(s->record_token_uses({{"alice", 50}}).ok());
  commit_tokens_ok(*s, {{"alice", "client", "", "revoked-x", 60, true}});  // what a revocation writes
  std::optional<sdk::TokenInfo> gone;
  REQUIRE(s->find_token_info("h-1", gone).ok());
  CHECK_FALSE(gone);
  REQUIRE(s->find_token_info("revoked-x", gone).ok());
  CHECK_FALSE(gone);  // a revoked row authenticates nobody
  auto revoked = listed(*s, "alice");
  CHECK(revoked.role == "reviewer");
  CHECK(revoked.created_ms == 10);
  CHECK(revoked.expires_ms == 9000);
  CHECK(revoked.last_used_ms == 50);
  CHECK(revoked.revoked_ms == 60);

  commit_tokens_ok(*s, {{"alice", "admin", "", "h-2", 70, false}});
  auto fresh = info_of(*s, "h-2");
  CHECK(fresh.role == "admin");
  CHECK(fresh.created_ms == 70);
  CHECK(fresh.expires_ms == 0);
  CHECK(fresh.last_used_ms == 0);
  CHECK(fresh.revoked_ms == 0);
}

TEST_CASE("token export: every token by name with its hash and life, a revoked one as it was before") {
  TempDir dir;
  auto s = open(db_of(dir));
  commit_tokens_ok(*s, {{"zed", "client", "", "h-z", 5, false}, {"alice", "reviewer", "a,b", "h-1", 10, false}},
                   {{"h-1", 9000}});
  REQUIRE(s->record_token_uses({{"alice", 50}}).ok());
  commit_tokens_ok(*s, {{"alice", "client", "", "revoked-x", 60, true}});  // what a revocation writes
  std::vector<sdk::TokenExport> out;
  REQUIRE(s->export_tokens(out).ok());
  REQUIRE(out.size() == 2);
  const auto& alice = out[0];
  CHECK(alice.token.name == "alice");
  CHECK(alice.token.role == "reviewer");  // what the token was, not the revocation row's
  CHECK(alice.token.domains == "a,b");
  CHECK(alice.token.hash == "revoked-x");
  CHECK(alice.token.created_ms == 10);
  CHECK(alice.token.revoked);
  CHECK(alice.expires_ms == 9000);
  CHECK(alice.last_used_ms == 50);
  CHECK(alice.revoked_ms == 60);
  const auto& zed = out[1];
  CHECK(zed.token.name == "zed");
  CHECK(zed.token.hash == "h-z");
  CHECK_FALSE(zed.token.revoked);
  CHECK(zed.expires_ms == 0);
  CHECK(zed.revoked_ms == 0);

  // What `hitl storage copy` does with them: a second database answers the same export.
  TempDir other;
  auto copy = open(db_of(other));
  for (const auto& t : out) {
    sdk::TokenRecord live = t.token;
    live.revoked = false;
    std::vector<sdk::TokenRecord> rows{live};
    if (t.token.revoked) rows.push_back({t.token.name, t.token.role, t.token.domains, t.token.hash, t.revoked_ms, true});
    commit_tokens_ok(*copy, rows, {{t.token.hash, t.expires_ms}});
    if (t.last_used_ms) REQUIRE(copy->record_token_uses({{t.token.name, t.last_used_ms}}).ok());
  }
  std::vector<sdk::TokenExport> again;
  REQUIRE(copy->export_tokens(again).ok());
  REQUIRE(again.size() == out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    INFO(out[i].token.name);
    CHECK(again[i].token.role == out[i].token.role);
    CHECK(again[i].token.hash == out[i].token.hash);
    CHECK(again[i].token.created_ms == out[i].token.created_ms);
    CHECK(again[i].token.revoked == out[i].token.revoked);
    CHECK(again[i].expires_ms == out[i].expires_ms);
    CHECK(again[i].last_used_ms == out[i].last_used_ms);
    CHECK(again[i].revoked_ms == out[i].revoked_ms);
  }
}

TEST_CASE("token life: last uses only move forward, unknown names are ignored") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch plain;  // through the 1.0 commit, as `hitl token create` without expiry did
  plain.tokens.push_back({"bob", "client", "", "h-1", 10, false});
  REQUIRE(s->commit(plain).ok());
  REQUIRE(s->record_token_uses({{"bob", 100}, {"nobody", 5}}).ok());
  REQUIRE(s->record_token_uses({{"bob", 40}}).ok());
  CHECK(info_of(*s, "h-1").last_used_ms == 100);
  CHECK(count_rows(db_of(dir), "token_life") == 1);
}

TEST_CASE("token life: migration 6 carries the tokens of a version 5 file over", "[sqlite-only]") {
  TempDir dir;
  {
    auto s = open(db_of(dir));
    sdk::WriteBatch b;
    b.tokens.push_back({"ops", "admin", "", "h-1", 10, false});
    b.tokens.push_back({"old", "client", "", "revoked-1", 20, true});
    REQUIRE(s->commit(b).ok());
  }
  {
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
    undo_migration_6(raw);
  }
  auto s = open(db_of(dir));
  int version = 0;
  REQUIRE(s->schema_version(version).ok());
  CHECK(version == kLatestSchema);
  CHECK(info_of(*s, "h-1").created_ms == 10);
  CHECK(listed(*s, "old").revoked_ms == 20);
}
