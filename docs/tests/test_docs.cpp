// The docs checked against the tree they describe, so they cannot drift from it silently:
//  * a fenced block right after a line "<!-- file: PATH -->" is the file PATH, verbatim (the
//    worked example of docs/policy.md is examples/credit_risk/policy.lua itself);
//  * docs/architecture.md has one section per folder of core/, in the order of the layers
//    (tests/check_layers.cmake);
//  * docs/plugin-sdk.md's history has a row for every version sdk/abi.lock records;
//  * every hitl.<name>(...) the docs call is a function of the policy standard library.
#include "common/files.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = HITL_SOURCE_DIR;

std::string source(const std::string& relative) { return hitl::read_whole_file(kRoot / relative); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<fs::path> markdown_files() {
  std::vector<fs::path> files{kRoot / "README.md"};
  for (const auto& entry : fs::directory_iterator(kRoot / "docs"))
    if (entry.path().extension() == ".md") files.push_back(entry.path());
  return files;
}

struct MarkedBlock {
  std::string doc;   // where the block is, for the failure message
  std::string path;  // the file it must equal, relative to the source root
  std::string text;  // the block's lines, each ending in '\n'
};

// Blocks whose opening fence follows "<!-- file: PATH -->" directly.
std::vector<MarkedBlock> marked_blocks(const fs::path& doc) {
  static const std::regex marker(R"(^<!-- file: (\S+) -->$)");
  std::vector<MarkedBlock> blocks;
  const auto lines = lines_of(hitl::read_whole_file(doc));
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, marker)) continue;
    REQUIRE(lines[i + 1].rfind("```", 0) == 0);  // the marker names the block right below it
    MarkedBlock b{doc.filename().string() + ":" + std::to_string(i + 1), m[1].str(), ""};
    std::size_t j = i + 2;
    for (; j < lines.size() && lines[j] != "```"; ++j) b.text += lines[j] + "\n";
    REQUIRE(j < lines.size());  // the block is closed
    blocks.push_back(std::move(b));
    i = j;
  }
  return blocks;
}

// The core/ folders in the order tests/check_layers.cmake gives them their layers.
std::vector<std::string> folders_in_layer_order() {
  static const std::regex layer(R"(^set\(layer_([a-z_]+) [0-9]+\)$)");
  std::vector<std::string> folders;
  for (const auto& line : lines_of(source("tests/check_layers.cmake"))) {
    std::smatch m;
    if (std::regex_match(line, m, layer)) folders.push_back(m[1].str());
  }
  return folders;
}

}  // namespace

TEST_CASE("docs: a block marked <!-- file: PATH --> is that file verbatim") {
  std::size_t checked = 0;
  for (const auto& doc : markdown_files()) {
    for (const auto& b : marked_blocks(doc)) {
      INFO(b.doc << " shows " << b.path << ": copy the file into the block again");
      CHECK(b.text == source(b.path));
      ++checked;
    }
  }
  // The worked example of docs/policy.md is the example policy itself.
  bool policy_example = false;
  for (const auto& b : marked_blocks(kRoot / "docs" / "policy.md"))
    policy_example = policy_example || b.path == "examples/credit_risk/policy.lua";
  CHECK(policy_example);
  CHECK(checked >= 1);
}

TEST_CASE("docs: architecture.md has a section per folder of core/, in layer order") {
  const auto folders = folders_in_layer_order();
  std::set<std::string> layered(folders.begin(), folders.end());
  for (const auto& entry : fs::directory_iterator(kRoot / "core"))
    if (entry.is_directory()) {
      INFO("core/" << entry.path().filename().string() << " has no layer in tests/check_layers.cmake");
      CHECK(layered.count(entry.path().filename().string()) == 1);
    }
  const std::string doc = source("docs/architecture.md");
  std::size_t previous = 0;
  for (const auto& folder : folders) {
    const std::string heading = "\n### `core/" + folder + "/`";
    const auto at = doc.find(heading);
    INFO("docs/architecture.md: section " << heading.substr(1) << " (after the previous layer's)");
    REQUIRE(at != std::string::npos);
    CHECK(at > previous);
    previous = at;
  }
}

TEST_CASE("docs: plugin-sdk.md's history has a row for every version in sdk/abi.lock") {
  static const std::regex legacy(R"(^abi_version=([0-9]+) sha256=)");
  static const std::regex version(R"(^([a-z]+) ([0-9.]+) sha256=)");
  const std::string doc = source("docs/plugin-sdk.md");
  const auto history_at = doc.find("### History");
  REQUIRE(history_at != std::string::npos);
  const std::string history = doc.substr(history_at);
  std::size_t versions = 0;
  for (const auto& line : lines_of(source("sdk/abi.lock"))) {
    std::smatch m;
    std::string row;
    if (std::regex_search(line, m, legacy)) row = "| ABI " + m[1].str() + " |";
    else if (std::regex_search(line, m, version))
      row = m[1].str() == "common" ? "format " + m[2].str() : m[1].str() + " " + m[2].str();
    else continue;
    INFO("sdk/abi.lock records " << line.substr(0, line.find(" sha256")) << "; docs/plugin-sdk.md's history lacks \"" << row << "\"");
    CHECK(history.find(row) != std::string::npos);
    ++versions;
  }
  CHECK(versions >= 9);
}

TEST_CASE("docs: every hitl.<name>(...) the docs call is in the policy standard library") {
  static const std::regex defined(R"(^function hitl\.([a-z_]+)\()");
  std::set<std::string> library;
  for (const auto& line : lines_of(source("scripts/lib/hitl.lua"))) {
    std::smatch m;
    if (std::regex_search(line, m, defined)) library.insert(m[1].str());
  }
  REQUIRE(library.count("default_decision") == 1);
  static const std::regex called(R"(hitl\.([a-z_]+)\()");
  for (const auto& doc : markdown_files()) {
    const std::string text = hitl::read_whole_file(doc);
    for (std::sregex_iterator it(text.begin(), text.end(), called), end; it != end; ++it) {
      INFO(doc.filename().string() << " calls hitl." << (*it)[1].str() << "(), which scripts/lib/hitl.lua does not define");
      CHECK(library.count((*it)[1].str()) == 1);
    }
  }
}
