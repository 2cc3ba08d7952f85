// Static files of the web UI, held in memory (see ui_assets.hpp for why).
#include "api/ui_assets.hpp"

#include "common/files.hpp"
#include "common/hash.hpp"

#include <stdexcept>
#include <system_error>

namespace hitl::ui {
namespace fs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

http::Response text_reply(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = "text/plain; charset=utf-8";
  return r;
}

http::Response redirect_to_ui() {
  http::Response r = text_reply(302, "see /ui/\n");
  r.headers.emplace_back("Location", "/ui/");
  return r;
}

// The headers of one UI reply. Files are revalidated on every load (no-cache + ETag): a new build
// is seen at once, an unchanged file costs a 304.
http::Response asset_reply(const Asset& a, const http::Request& req) {
  http::Response r;
  if (req.header("if-none-match") == a.etag) {
    r.status = 304;
    r.content_type.clear();
  } else {
    r.body = a.body;
    r.content_type = a.content_type;
  }
  r.headers.emplace_back("ETag", a.etag);
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

// GET /ui/<rel>: `rel` is looked up as a key of the files read at start-up, never opened.
http::Response serve_ui(const Assets& assets, const http::Request& req) {
  http::Response r;
  if (req.method != "GET" && req.method != "HEAD") {
    r = text_reply(405, "use GET\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
  } else if (req.path == "/ui") {
    r = redirect_to_ui();
  } else if (const Asset* a = assets.find(std::string_view(req.path).substr(4))) {
    r = asset_reply(*a, req);
  } else if (assets.size() == 0) {
    r = text_reply(404, "the web UI is not installed (no files in " + assets.dir().string() + ")\n");
  } else {
    r = text_reply(404, "not found\n");
  }
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  return r;
}

}  // namespace

std::string content_type_of(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},       {".mjs", "text/javascript; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},   {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},               {".svg", "image/svg+xml"},
      {".png", "image/png"},                       {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},       {".webmanifest", "application/manifest+json"},
  };
  for (auto& [ext, type] : kTypes)
    if (ends_with(name, ext)) return std::string(type);
  return "application/octet-stream";
}

std::shared_ptr<const Assets> Assets::load(const fs::path& dir) {
  auto out = std::make_shared<Assets>();
  out->dir_ = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  // Symlinked folders are not entered and symlinked files are skipped: only what is in the folder.
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const std::string rel = fs::relative(it->path(), dir).generic_string();
    std::string body = read_whole_file(it->path());
    out->bytes_ += body.size();
    if (out->files_.size() + 1 > kMaxFiles || out->bytes_ > kMaxBytes)
      throw std::runtime_error("ui: " + dir.string() + " holds more than " + std::to_string(kMaxFiles) +
                               " files or " + std::to_string(kMaxBytes) + " bytes");
    Asset a{std::move(body), content_type_of(rel), {}};
    a.etag = "\"" + sha256_hex(a.body).substr(0, 32) + "\"";
    out->files_.emplace(rel, std::move(a));
  }
  if (ec) throw std::runtime_error("ui: cannot list " + dir.string() + ": " + ec.message());
  return out;
}

const Asset* Assets::find(std::string_view rel) const {
  if (rel.empty() || rel == "/") rel = "index.html";
  if (rel.front() == '/') rel.remove_prefix(1);
  auto it = files_.find(rel);
  return it == files_.end() ? nullptr : &it->second;
}

void add_security_headers(http::Response& r) {
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
}

http::Handler with_ui(std::shared_ptr<const Assets> assets, http::Handler api) {
  return [assets = std::move(assets), api = std::move(api)](http::Request&& req, http::Respond respond) {
    auto secured = [respond = std::move(respond)](http::Response r) {
      add_security_headers(r);
      respond(std::move(r));
    };
    const std::string_view p = req.path;
    if (p == "/" || p == "/ui" || p.substr(0, 4) == "/ui/") {
      secured(p == "/" ? redirect_to_ui() : serve_ui(*assets, req));
      return;
    }
    // The OpenAPI document (docs/openapi.json, installed with the UI's files): no token needed.
    if (p == "/v1/openapi.json" && (req.method == "GET" || req.method == "HEAD")) {
      if (const Asset* a = assets->find("openapi.json")) {
        secured(asset_reply(*a, req));
        return;
      }
    }
    api(std::move(req), std::move(secured));
  };
}

}  // namespace hitl::ui
