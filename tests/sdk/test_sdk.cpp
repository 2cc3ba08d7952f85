// The SDK header: its per-interface version lock, and the layouts the host relies on byte for byte.
#include <hitl/audit_chain.hpp>
#include <hitl/plugin_api.hpp>

#include "abi_lock.hpp"
#include "common/hash.hpp"
#include "support/skip.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <type_traits>

namespace fs = std::filesystem;
using namespace hitl::sdk;

namespace {

const fs::path kSdk = fs::path(HITL_SOURCE_DIR) / "sdk";
const std::string kUpdateCommand = "cmake --build build --target sdk-update-abi-lock";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<hitl::sdk_lock::LockLine> read_lock() {
  std::vector<std::string> bad;
  auto lines = hitl::sdk_lock::parse_lock(read_file(kSdk / "abi.lock"), bad);
  for (const auto& b : bad) FAIL("abi.lock: malformed line: " << b);
  return lines;
}

// Itanium C++ ABI: a pointer to a virtual member function holds 1 + its vtable offset in bytes.
template <class F>
std::ptrdiff_t vtable_slot(F f) {
  static_assert(sizeof(F) == 2 * sizeof(std::ptrdiff_t));
  std::ptrdiff_t raw = 0;
  std::memcpy(&raw, &f, sizeof raw);
  REQUIRE(raw % static_cast<std::ptrdiff_t>(sizeof(void*)) == 1);  // virtual
  return (raw - 1) / static_cast<std::ptrdiff_t>(sizeof(void*));
}

template <std::size_t N>
std::vector<std::uint32_t> as_vector(const std::uint32_t (&a)[N]) { return {a, a + N}; }

}  // namespace

TEST_CASE("abi.lock records every section of plugin_api.hpp under its declared version") {
  using namespace hitl::sdk_lock;
  const auto header = read_file(kSdk / "include/hitl/plugin_api.hpp");
  // The digests skip comments by cutting at "//": a "//" in a string, or a /* */ comment, would
  // hide declarations from them.
  CHECK(header.find("/*") == std::string::npos);
  std::istringstream lines(header);
  for (std::string line; std::getline(lines, line);) {
    const std::string code = line.substr(0, line.find("//"));
    INFO(line);
    CHECK(std::count(code.begin(), code.end(), '"') % 2 == 0);  // the cut fell inside no string
  }

  const auto split = split_sections(header);
  const auto lock = read_lock();
  for (const auto& s : sections()) {
    INFO("section " << s.name);
    REQUIRE(split.count(s.name) == 1);
    const std::string version = declared_version(header, s);
    REQUIRE_FALSE(version.empty());
    const std::string digest = hitl::sha256_hex(digest_input(split, s.name));
    const auto* line = find_line(lock, s.name, version);
    if (line == nullptr)
      FAIL("sdk/abi.lock has no line for " << s.name << " " << version << ". Record it with:\n  " << kUpdateCommand);
    if (line->sha256 != digest)
      FAIL("the " << s.name << " declarations of plugin_api.hpp changed (sha256 " << digest << ") but abi.lock ties "
           << s.name << " " << version << " to sha256 " << line->sha256 << ".\nPlugins built against the old header "
           << "would load and misbehave. Bump "
           << (s.major_macro ? std::string(s.minor_macro) + " if the change only appends (docs/plugin-sdk.md, "
                                                            "\"Growing an interface\"), else " + s.major_macro
                             : std::string("HITL_SDK_ABI_VERSION and every interface major"))
           << ", then record the header with:\n  " << kUpdateCommand);
  }
}

TEST_CASE("the versions the header declares are the ones compiled in") {
  const auto header = read_file(kSdk / "include/hitl/plugin_api.hpp");
  using hitl::sdk_lock::define_value;
  CHECK(define_value(header, "HITL_SDK_ABI_VERSION") == kAbiVersion);
  CHECK(define_value(header, "HITL_SDK_MODEL_API_MAJOR") == kModelApi.major);
  CHECK(define_value(header, "HITL_SDK_MODEL_API_MINOR") == kModelApi.minor);
  CHECK(define_value(header, "HITL_SDK_QUEUE_API_MAJOR") == kQueueApi.major);
  CHECK(define_value(header, "HITL_SDK_QUEUE_API_MINOR") == kQueueApi.minor);
  CHECK(define_value(header, "HITL_SDK_STORAGE_API_MAJOR") == kStorageApi.major);
  CHECK(define_value(header, "HITL_SDK_STORAGE_API_MINOR") == kStorageApi.minor);
  CHECK(std::size(kModelStructSizes) == std::size(kModelStructNames));
  CHECK(std::size(kQueueStructSizes) == std::size(kQueueStructNames));
  CHECK(std::size(kStorageStructSizes) == std::size(kStorageStructNames));
}

TEST_CASE("a comment edit leaves the digests alone, a declaration edit moves its own interface and a common one all three") {
  using namespace hitl::sdk_lock;
  const auto header = read_file(kSdk / "include/hitl/plugin_api.hpp");
  auto digest = [](const std::string& h, const char* name) { return hitl::sha256_hex(digest_input(split_sections(h), name)); };
  std::string reworded = header;
  reworded.replace(reworded.find("// Scores a batch"), 17, "// Scores  a   batch (reworded)");
  CHECK(digest(reworded, "model") == digest(header, "model"));

  std::string grown = header;
  grown.replace(grown.find("  // (new queue methods go here"), 0, "  virtual void extra() noexcept {}\n");
  CHECK(digest(grown, "queue") != digest(header, "queue"));
  CHECK(digest(grown, "model") == digest(header, "model"));  // a queue change never touches model vendors
  CHECK(digest(grown, "storage") == digest(header, "storage"));

  std::string common = header;
  common.replace(common.find("  internal,"), 0, "  cancelled,\n");
  for (const char* name : {"model", "queue", "storage"}) CHECK(digest(common, name) != digest(header, name));
}

// The host reads these two fields before anything else from descriptors of any format, so their
// place must never move; the rest of format 6's head is pinned too (a later SDK only appends).
static_assert(std::is_standard_layout_v<PluginDescriptor>);
static_assert(offsetof(PluginDescriptor, abi_version) == 0);
static_assert(offsetof(PluginDescriptor, struct_size) == 4);
static_assert(std::is_same_v<decltype(PluginDescriptor::abi_version), std::uint32_t>);
static_assert(std::is_same_v<decltype(PluginDescriptor::struct_size), std::uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<PluginKind>, std::uint32_t>);
static_assert(kAbiVersion == HITL_SDK_ABI_VERSION);

TEST_CASE("descriptor format 6: every field at its pinned offset") {
  CHECK(offsetof(PluginDescriptor, kind) == 8);
  CHECK(offsetof(PluginDescriptor, api) == 12);
  CHECK(sizeof(ApiVersion) == 4);
  if constexpr (sizeof(void*) == 8) {
    CHECK(offsetof(PluginDescriptor, name) == 16);
    CHECK(offsetof(PluginDescriptor, version) == 24);
    CHECK(offsetof(PluginDescriptor, description) == 32);
    CHECK(offsetof(PluginDescriptor, config_doc) == 40);
    CHECK(offsetof(PluginDescriptor, create_model) == 48);
    CHECK(offsetof(PluginDescriptor, create_queue) == 56);
    CHECK(offsetof(PluginDescriptor, create_storage) == 64);
    CHECK(offsetof(PluginDescriptor, struct_sizes) == 72);
    CHECK(offsetof(PluginDescriptor, struct_count) == 80);
  }
  CHECK(std::string(HITL_PLUGIN_ENTRY_SYMBOL) == "hitl_plugin_descriptor");
}

TEST_CASE("descriptor helpers fill in the format, the interface version and its struct sizes") {
  auto create = [](const char*, std::unique_ptr<Queue>&) { return Status::Ok(); };
  constexpr PluginDescriptor d = queue_descriptor("q", "1.0.0", "a queue", "[]", +create);
  CHECK(d.abi_version == kAbiVersion);
  CHECK(d.struct_size == sizeof(PluginDescriptor));
  CHECK(d.kind == PluginKind::queue);
  CHECK((d.api.major == kQueueApi.major && d.api.minor == kQueueApi.minor));
  CHECK(d.struct_sizes == kQueueStructSizes);
  CHECK(d.struct_count == std::size(kQueueStructSizes));
  CHECK((d.create_model == nullptr && d.create_storage == nullptr && d.create_queue != nullptr));
}

// What each interface's structs and virtual slots were when its major was released, on the
// platform we ship (x86-64, libstdc++ with the C++11 string ABI). Within a major these entries
// never change: a minor may only append a struct (a longer size table) or a method (a higher
// slot). Changing a pinned value means a major bump; then re-pin.
TEST_CASE("struct sizes per interface: the released ones stay, a minor only appends") {
#if defined(__x86_64__) && defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
  const std::vector<std::uint32_t> model_1 = {40, 40, 24, 88, 72, 64};
  const std::vector<std::uint32_t> queue_1 = {40, 64, 48, 16};
  const std::vector<std::uint32_t> storage_1 = {40,  504, 432, 192, 200, 264, 96,  224, 240, 272, 144,
                                                976, 128, 136, 80,  104, 312, 168, 88,  104, 136, 80};
  auto starts_with = [](const std::vector<std::uint32_t>& now, const std::vector<std::uint32_t>& pinned) {
    return now.size() >= pinned.size() && std::equal(pinned.begin(), pinned.end(), now.begin());
  };
  CHECK(kModelApi.major == 1);
  CHECK(starts_with(as_vector(kModelStructSizes), model_1));
  CHECK(kQueueApi.major == 1);
  CHECK(starts_with(as_vector(kQueueStructSizes), queue_1));
  CHECK(kStorageApi.major == 1);
  CHECK(starts_with(as_vector(kStorageStructSizes), storage_1));
#else
  HITL_SKIP("struct sizes are pinned for x86-64 libstdc++ only");
#endif
}

TEST_CASE("virtual slots per interface: methods keep their place, new ones come after") {
  // Slots 0 and 1 are the destructors.
  CHECK(vtable_slot(&Model::predict) == 2);
  CHECK(vtable_slot(&Model::can_train) == 3);
  CHECK(vtable_slot(&Model::train) == 4);
  CHECK(vtable_slot(&Model::version) == 5);

  CHECK(vtable_slot(&Queue::push) == 2);
  CHECK(vtable_slot(&Queue::claim) == 3);
  CHECK(vtable_slot(&Queue::ack) == 4);
  CHECK(vtable_slot(&Queue::release) == 5);
  CHECK(vtable_slot(&Queue::expire) == 6);
  CHECK(vtable_slot(&Queue::depth) == 7);

  CHECK(vtable_slot(&Storage::commit) == 2);
  CHECK(vtable_slot(&Storage::get_decision) == 3);
  CHECK(vtable_slot(&Storage::get_task) == 4);
  CHECK(vtable_slot(&Storage::list_tasks) == 5);
  CHECK(vtable_slot(&Storage::list_decisions) == 6);
  CHECK(vtable_slot(&Storage::list_reviews) == 7);
  CHECK(vtable_slot(&Storage::list_feedback) == 8);
  CHECK(vtable_slot(&Storage::list_audit) == 9);
  CHECK(vtable_slot(&Storage::find_token) == 10);
  CHECK(vtable_slot(&Storage::list_reviewers) == 11);
  CHECK(vtable_slot(&Storage::list_deliveries) == 12);
  CHECK(vtable_slot(&Storage::schema_version) == 13);
  // storage 1.1
  CHECK(vtable_slot(&Storage::commit_tokens) == 14);
  CHECK(vtable_slot(&Storage::find_token_info) == 15);
  CHECK(vtable_slot(&Storage::list_tokens) == 16);
  CHECK(vtable_slot(&Storage::record_token_uses) == 17);
}

TEST_CASE("Status: ok by default, errors carry code and message") {
  Status s;
  CHECK(s.ok());
  CHECK(Status::Ok().ok());
  auto e = Status::Error(Code::unavailable, "database is locked");
  CHECK_FALSE(e.ok());
  CHECK(e.code == Code::unavailable);
  CHECK(e.message == "database is locked");
  CHECK(static_cast<int>(Code::ok) == 0);
}

TEST_CASE("kind_name names every kind and survives a bad value") {
  CHECK(std::string(kind_name(PluginKind::model)) == "model");
  CHECK(std::string(kind_name(PluginKind::queue)) == "queue");
  CHECK(std::string(kind_name(PluginKind::storage)) == "storage");
  CHECK(std::string(kind_name(static_cast<PluginKind>(42))) == "unknown");
  CHECK(static_cast<std::uint32_t>(PluginKind::model) == 1);
  CHECK(static_cast<std::uint32_t>(PluginKind::storage) == 3);
}

namespace {
struct NullModel final : Model {
  Status predict(const std::vector<Record>&, std::vector<Prediction>& out) noexcept override {
    out.clear();
    return Status::Ok();
  }
  std::string version() const noexcept override { return "null"; }
};
}  // namespace

TEST_CASE("Model defaults: no training, and train() says so through a Status") {
  NullModel m;
  CHECK_FALSE(m.can_train());
  TrainResult r;
  auto s = m.train(Dataset{}, r);
  CHECK(s.code == Code::invalid_argument);
  CHECK_FALSE(s.message.empty());
  static_assert(noexcept(m.predict({}, std::declval<std::vector<Prediction>&>())));
  static_assert(std::has_virtual_destructor_v<Model> && std::has_virtual_destructor_v<Queue> &&
                std::has_virtual_destructor_v<Storage>);
  WriteBatch batch;
  CHECK(batch.empty());
  batch.audit.emplace_back();
  CHECK_FALSE(batch.empty());
}

TEST_CASE("audit_chain.hpp: the worked example of plugin_api.hpp, byte for byte") {
  AuditRecord r;
  r.seq = 1;
  r.ts_ms = 1700000000000;
  r.actor = "alice";
  r.action = "review.submitted";
  r.domain = "credit_risk";
  r.entity = "task";
  r.entity_id = "42";
  r.detail_json = R"({"outcome":"correct","label":"bad"})";
  r.prev_hash = "ignored: the link is the argument";
  const auto sha = [](std::string_view s) { return hitl::sha256_hex(s); };

  std::string canonical = "kept:";  // appends, never clears
  audit_chain::append_canonical(canonical, r, sha(r.detail_json), kAuditGenesisHash);
  CHECK(canonical == "kept:1:1,13:1700000000000,5:alice,16:review.submitted,11:credit_risk,4:task,2:42,"
                     "64:8bcf56be90c50228c9fe30240403141e2c996720e08d82c003558ee4614355b7,64:" +
                         std::string(64, '0') + ",");
  CHECK(audit_chain::record_hash(r, kAuditGenesisHash, sha) ==
        "b3f009b43b0c0417f1a85a842e3c8e6a464332426fae9c612d227cb2b84fd8c3");

  // Integers: "-" when negative, no leading zeros; strings: bytes as they are.
  std::string out;
  audit_chain::append_field(out, std::int64_t{-7});
  audit_chain::append_field(out, std::int64_t{0});
  audit_chain::append_field(out, std::string_view("h\xc3\xa9,:"));
  CHECK(out == "2:-7,1:0,5:h\xc3\xa9,:,");
}

TEST_CASE("abi/ keeps the declarations of every recorded version, the current ones as they are now") {
  using namespace hitl::sdk_lock;
  const auto split = split_sections(read_file(kSdk / "include/hitl/plugin_api.hpp"));
  const auto header = read_file(kSdk / "include/hitl/plugin_api.hpp");
  for (const auto& line : read_lock()) {
    INFO(line.section << " " << line.version);
    const auto record = kSdk / "abi" / (line.section + "-" + line.version + ".decl");
    REQUIRE(fs::exists(record));
    for (const auto& s : sections())
      if (s.name == line.section && declared_version(header, s) == line.version)
        CHECK(read_file(record) == split.at(line.section));
  }
}

namespace {
// `text` with `what` inserted before the first `anchor`.
std::string inserted(std::string text, const std::string& anchor, const std::string& what) {
  const auto at = text.find(anchor);
  REQUIRE(at != std::string::npos);
  return text.insert(at, what);
}
}  // namespace

TEST_CASE("a minor may append methods, structs and table entries, and change nothing that was there") {
  using namespace hitl::sdk_lock;
  const auto header = read_file(kSdk / "include/hitl/plugin_api.hpp");
  auto section = [](const std::string& h, const char* name) { return split_sections(h).at(name); };
  const auto model = section(header, "model");

  // What make-sdk-variant.cmake's next minor does: a method after the last, a struct, an entry.
  std::string grown = inserted(header, "  // (new model methods go here", "  virtual bool warm() const noexcept { return true; }\n");
  grown = inserted(grown, "inline constexpr std::uint32_t kModelStructSizes", "struct Warmth {\n  double level = 0;\n};\n");
  grown = inserted(grown, "\n};\ninline constexpr const char* kModelStructNames", " sizeof(Warmth),");
  CHECK(minor_violation(model, section(grown, "model")).empty());
  std::string queue_names = inserted(header, "\"QueueDepth\"}", "\"QueueDepth\", ");
  CHECK(minor_violation(section(header, "queue"), section(queue_names, "queue")).empty());

  const auto member = inserted(header, "  std::string metrics_json;", "  std::string notes;\n");
  CHECK_THAT(minor_violation(model, section(member, "model")), Catch::Contains("'struct TrainResult {' changed"));
  const auto early = inserted(header, "  virtual bool can_train()", "  virtual bool warm() const noexcept { return true; }\n");
  CHECK_THAT(minor_violation(model, section(early, "model")), Catch::Contains("'class Model {' changed before its end"));
  std::string retyped = header;
  retyped.replace(retyped.find("using Record ="), 14, "using Row =");
  CHECK_THAT(minor_violation(model, section(retyped, "model")), Catch::Contains("using Record"));
  std::string gone = header;
  gone.replace(gone.find("struct Lease {"), 14, "struct Lease2 {");
  CHECK_THAT(minor_violation(section(header, "queue"), section(gone, "queue")), Catch::Contains("'struct Lease {' changed or went"));
}

TEST_CASE("the generated next minor the vendor test uses is a legal minor, the next major is not") {
  using namespace hitl::sdk_lock;
  const fs::path variants = fs::path(HITL_BINARY_DIR) / "tests/fixtures/sdk-variants";
  const auto today = split_sections(read_file(kSdk / "include/hitl/plugin_api.hpp")).at("model");
  const auto next_minor = split_sections(read_file(variants / "next-minor/hitl/plugin_api.hpp")).at("model");
  const auto next_major = split_sections(read_file(variants / "next-major/hitl/plugin_api.hpp")).at("model");
  CHECK(minor_violation(today, next_minor).empty());
  CHECK_THAT(minor_violation(today, next_major), Catch::Contains("'struct Prediction {' changed"));
}
