#include "common/files.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace hitl {
namespace fs = std::filesystem;

bool FileStamp::changed() {
  std::error_code ec;
  const auto now_mtime = fs::last_write_time(path, ec);
  if (ec) return false;
  const auto now_size = fs::file_size(path, ec);
  if (ec || (now_mtime == mtime && now_size == size)) return false;
  mtime = now_mtime;
  size = now_size;
  return true;
}

DirLock::DirLock(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path file = dir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd_);
    throw std::runtime_error("cannot lock " + file.string() + ": " + std::strerror(err));
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

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
