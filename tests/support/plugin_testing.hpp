#pragma once
// Shared by the plugin tests: load a built plugin the way the host does and make objects from
// it, with Catch2 checks on every step. Header-only; include after <catch2/catch.hpp>.
#include <hitl/plugin_api.hpp>

#include "support/model_eval.hpp"

#include <boost/dll/import.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hitl::test {

// The descriptor of HITL_PLUGIN_DIR/<file>. The library stays loaded for the whole test run:
// objects must not outlive it. BOOST_DLL_ALIAS exports a pointer variable, so this is
// import_alias (as the host's loader does), never import.
inline const sdk::PluginDescriptor& plugin_descriptor(const std::string& file) {
  using Entry = std::function<const sdk::PluginDescriptor*()>;
  static std::map<std::string, Entry> loaded;
  auto it = loaded.find(file);
  if (it == loaded.end()) {
    auto path = std::filesystem::path(HITL_PLUGIN_DIR) / file;
    it = loaded.emplace(file, boost::dll::import_alias<const sdk::PluginDescriptor*()>(path, HITL_PLUGIN_ENTRY_SYMBOL)).first;
  }
  return *it->second();
}

// Checks the descriptor's header fields and its config_doc; returns the documented option names.
inline std::vector<std::string> check_model_descriptor(const sdk::PluginDescriptor& d, const std::string& name) {
  CHECK(d.abi_version == HITL_SDK_ABI_VERSION);
  CHECK(d.struct_size == sizeof(sdk::PluginDescriptor));
  CHECK(d.kind == sdk::PluginKind::model);
  CHECK(std::string(d.name) == name);
  CHECK(d.create_model != nullptr);
  CHECK(d.create_queue == nullptr);
  CHECK(d.create_storage == nullptr);
  auto doc = nlohmann::json::parse(d.config_doc);
  REQUIRE(doc.is_array());
  std::vector<std::string> names;
  for (const auto& o : doc) {
    CHECK(o.contains("type"));
    CHECK(o.contains("default"));
    CHECK(o.contains("description"));
    names.push_back(o.at("name"));
  }
  return names;
}

inline std::unique_ptr<sdk::Model> make_model(const sdk::PluginDescriptor& d, const nlohmann::json& config) {
  std::unique_ptr<sdk::Model> m;
  auto st = d.create_model(config.dump().c_str(), m);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(m);
  return m;
}

// The factory's message for a config it must refuse with invalid_argument.
inline std::string model_create_error(const sdk::PluginDescriptor& d, const std::string& config_text) {
  std::unique_ptr<sdk::Model> m;
  auto st = d.create_model(config_text.c_str(), m);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK(!m);
  return st.message;
}

inline sdk::TrainResult train_ok(sdk::Model& m, const sdk::Dataset& ds) {
  sdk::TrainResult r;
  auto st = m.train(ds, r);
  INFO(st.message);
  REQUIRE(st.ok());
  return r;
}

inline std::vector<sdk::Prediction> predict_ok(sdk::Model& m, const std::vector<sdk::Record>& rows) {
  std::vector<sdk::Prediction> out;
  auto st = m.predict(rows, out);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(out.size() == rows.size());
  return out;
}

// The probability a prediction gives class `cls` (fails the test when it has none).
inline double score(const sdk::Prediction& p, const std::string& cls) {
  for (const auto& [c, s] : p.scores)
    if (c == cls) return s;
  FAIL("no score for class " << cls);
  return 0;
}

// A scratch file under the build tree, in a folder per test binary.
inline std::filesystem::path scratch(const std::string& folder, const std::string& name) {
  auto dir = std::filesystem::path(HITL_BINARY_DIR) / folder;
  std::filesystem::create_directories(dir);
  return dir / name;
}

// Writes `text` to the scratch file `name` (see scratch()); returns its path.
inline std::filesystem::path write_scratch(const std::string& folder, const std::string& name, const std::string& text) {
  auto path = scratch(folder, name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}


}  // namespace hitl::test
