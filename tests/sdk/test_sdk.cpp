// The SDK header: its ABI lock, and the parts of it the host relies on byte for byte.
#include <hitl/plugin_api.hpp>

#include "common/hash.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
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
const std::string kUpdateCommand = "cmake -P sdk/cmake/update-abi-lock.cmake";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// abi.lock: "abi_version=N sha256=HEX" lines (in increasing N), '#' comments.
std::vector<std::pair<unsigned, std::string>> read_lock() {
  std::vector<std::pair<unsigned, std::string>> entries;
  std::istringstream in(read_file(kSdk / "abi.lock"));
  const std::regex line_re("abi_version=([0-9]+) sha256=([0-9a-f]{64})");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    INFO("abi.lock line: " << line);
    REQUIRE(std::regex_match(line, m, line_re));
    entries.emplace_back(static_cast<unsigned>(std::stoul(m[1])), m[2]);
  }
  return entries;
}

}  // namespace

TEST_CASE("plugin_api.hpp matches the hash abi.lock records for its ABI version") {
  const auto header = read_file(kSdk / "include/hitl/plugin_api.hpp");
  const auto actual = hitl::sha256_hex(header);

  // The version the header declares, read from its text (what CMake reads too) ...
  std::smatch m;
  REQUIRE(std::regex_search(header, m, std::regex("#define HITL_SDK_ABI_VERSION ([0-9]+)u")));
  const unsigned declared = static_cast<unsigned>(std::stoul(m[1]));
  // ... and the one this test was compiled with agree.
  REQUIRE(declared == HITL_SDK_ABI_VERSION);

  std::string locked;
  for (const auto& [version, hash] : read_lock())
    if (version == declared) locked = hash;

  if (locked.empty())
    FAIL("sdk/abi.lock has no line for ABI version " << declared << ". Record the header with:\n  "
                                                     << kUpdateCommand);
  if (locked != actual)
    FAIL("sdk/include/hitl/plugin_api.hpp changed (sha256 " << actual << ") but abi.lock ties ABI version "
         << declared << " to sha256 " << locked << ".\nPlugins built against the old header would load "
         << "and misbehave. Bump HITL_SDK_ABI_VERSION in plugin_api.hpp to " << declared + 1
         << ", then record the new header with:\n  " << kUpdateCommand);
  SUCCEED("plugin_api.hpp sha256 " << actual << " is locked for ABI version " << declared);
}

TEST_CASE("abi.lock lists versions in increasing order and ends with the header's version") {
  const auto entries = read_lock();
  REQUIRE_FALSE(entries.empty());
  for (std::size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1].first < entries[i].first);
  CHECK(entries.back().first == HITL_SDK_ABI_VERSION);
}

// The host reads these two fields before anything else from descriptors of any ABI version, so
// their place must never move. static_asserts fail the build; the CHECKs document it in the run.
static_assert(std::is_standard_layout_v<PluginDescriptor>);
static_assert(offsetof(PluginDescriptor, abi_version) == 0);
static_assert(offsetof(PluginDescriptor, struct_size) == 4);
static_assert(std::is_same_v<decltype(PluginDescriptor::abi_version), std::uint32_t>);
static_assert(std::is_same_v<decltype(PluginDescriptor::struct_size), std::uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<PluginKind>, std::uint32_t>);
static_assert(kAbiVersion == HITL_SDK_ABI_VERSION);

TEST_CASE("descriptor layout: abi_version at offset 0, struct_size at offset 4, kind after them") {
  CHECK(offsetof(PluginDescriptor, abi_version) == 0);
  CHECK(offsetof(PluginDescriptor, struct_size) == 4);
  CHECK(offsetof(PluginDescriptor, kind) == 8);
  CHECK(offsetof(PluginDescriptor, name) < offsetof(PluginDescriptor, create_model));
  CHECK(offsetof(PluginDescriptor, create_model) < offsetof(PluginDescriptor, create_queue));
  CHECK(offsetof(PluginDescriptor, create_queue) < offsetof(PluginDescriptor, create_storage));
  CHECK(std::string(HITL_PLUGIN_ENTRY_SYMBOL) == "hitl_plugin_descriptor");
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
