#pragma once
// The one temp folder of the tests: a fresh folder under the system temp dir for one test,
// removed with everything in it (kept when HITL_KEEP_TEST_DIRS is set, to look at afterwards).
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace hitl::test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "hitl-test") {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("HITL_KEEP_TEST_DIRS")) std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to `name` (a relative path; missing folders are made) and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + p.string());
    return p;
  }
};

}  // namespace hitl::test
