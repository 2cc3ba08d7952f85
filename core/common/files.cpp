#include "common/files.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hitl {
namespace fs = std::filesystem;

namespace {
void write_tmp(const fs::path& tmp, const std::string& text) {
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + tmp.string());
}
}  // namespace

std::string read_whole_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_new_file(const fs::path& target, const std::string& text) {
  const fs::path tmp = target.string() + ".tmp";
  write_tmp(tmp, text);
  std::error_code ec;
  fs::create_hard_link(tmp, target, ec);
  fs::remove(tmp);
  if (ec) throw std::runtime_error("cannot create " + target.string() + ": " + ec.message());
}

void replace_file(const fs::path& target, const std::string& text) {
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path tmp = target.string() + ".tmp";
  write_tmp(tmp, text);
  fs::rename(tmp, target);
}

}  // namespace hitl
