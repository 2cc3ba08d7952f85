#pragma once
// The web UI's static files (ui/www in the source tree, <exe>/../share/hitl/ui installed), served
// by `hitl serve` under /ui/ on its own port. Every file is read into memory at start-up, so a
// request never touches the disk on an I/O thread and a path can only name a file that was there
// then: "..", symlinks and anything outside the folder cannot be reached.
#include "http/server.hpp"

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace hitl::ui {

struct Asset {
  std::string body;
  std::string content_type;
  std::string etag;  // "\"<sha256 prefix>\"": a reload of an unchanged file is answered 304
};

class Assets {
 public:
  // Reads every regular file under `dir` (not following symlinks), at most kMaxFiles files of
  // kMaxBytes in all; a missing folder gives no assets (the UI answers 404, the API still runs).
  // Throws std::runtime_error when the folder is larger than that.
  static std::shared_ptr<const Assets> load(const std::filesystem::path& dir);
  static constexpr std::size_t kMaxFiles = 512;
  static constexpr std::size_t kMaxBytes = 32u << 20;

  // `rel` is the path below /ui/ ("" and "index.html" are the page); nullptr when unknown.
  const Asset* find(std::string_view rel) const;
  std::size_t size() const { return files_.size(); }
  std::size_t bytes() const { return bytes_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::map<std::string, Asset, std::less<>> files_;
  std::size_t bytes_ = 0;
};

// "text/javascript; charset=utf-8" for .mjs/.js, ...; "application/octet-stream" when unknown.
std::string content_type_of(std::string_view file_name);

// The headers every reply carries, UI and API alike: no MIME sniffing, no Referer leaving the
// page, no framing. UI replies add the Content-Security-Policy below.
void add_security_headers(http::Response& r);
// script-src 'self' and no 'unsafe-inline': an injected <script> or on* attribute never runs.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Serves GET /ui/... from `assets` (and redirects / and /ui to /ui/), and GET /v1/openapi.json
// from its openapi.json; hands everything else to `api`. Every reply gets add_security_headers().
http::Handler with_ui(std::shared_ptr<const Assets> assets, http::Handler api);

}  // namespace hitl::ui
