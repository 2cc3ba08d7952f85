// The UI's static file handler, called directly: what it serves, with which headers, and what it
// refuses (paths outside the folder, symlinks, other methods).
#include "api/ui_assets.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <optional>

namespace fs = std::filesystem;
using hitl::http::Request;
using hitl::http::Response;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string header(const Response& r, const std::string& name) {
  for (auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

// Runs `handler` on one request and returns its (synchronous) reply.
Response call(const hitl::http::Handler& handler, const std::string& method, const std::string& path,
              std::map<std::string, std::string> headers = {}) {
  Request req;
  req.method = method;
  req.path = path;
  req.target = path;
  req.headers = std::move(headers);
  std::optional<Response> out;
  handler(std::move(req), [&](Response r) { out = std::move(r); });
  REQUIRE(out);
  return *out;
}

struct Fixture {
  hitl::test::TempDir dir{"hitl-ui"};
  fs::path www = dir.path / "www";
  std::string api_paths;  // what reached the API handler
  hitl::http::Handler handler;
  Fixture() {
    write(www / "index.html", "<!doctype html><title>hitl</title>");
    write(www / "js" / "app.mjs", "export const x = 1;");
    write(www / "css" / "app.css", "body{}");
    write(dir.path / "secret.txt", "outside");
    fs::create_symlink(dir.path / "secret.txt", www / "link.txt");
    handler = hitl::ui::with_ui(hitl::ui::Assets::load(www), [this](Request&& r, hitl::http::Respond respond) {
      api_paths += r.path + ";";
      Response res;
      res.body = "{}";
      respond(std::move(res));
    });
  }
};

}  // namespace

TEST_CASE("ui: files are served with their content type and the security headers") {
  Fixture f;
  auto page = call(f.handler, "GET", "/ui/");
  CHECK(page.status == 200);
  CHECK(page.body == "<!doctype html><title>hitl</title>");
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(header(page, "Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  CHECK(header(page, "Content-Security-Policy").find("unsafe-inline") == std::string::npos);
  CHECK(header(page, "X-Content-Type-Options") == "nosniff");
  CHECK(header(page, "Referrer-Policy") == "no-referrer");
  auto js = call(f.handler, "GET", "/ui/js/app.mjs");
  CHECK(js.status == 200);
  CHECK(js.content_type == "text/javascript; charset=utf-8");
  CHECK(call(f.handler, "GET", "/ui/css/app.css").content_type == "text/css; charset=utf-8");
  CHECK(call(f.handler, "GET", "/ui/index.html").body == page.body);
  CHECK(f.api_paths.empty());
}

TEST_CASE("ui: an unchanged file is answered 304 to its ETag") {
  Fixture f;
  auto first = call(f.handler, "GET", "/ui/js/app.mjs");
  const std::string etag = header(first, "ETag");
  REQUIRE(etag.size() > 2);
  auto again = call(f.handler, "GET", "/ui/js/app.mjs", {{"if-none-match", etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(call(f.handler, "GET", "/ui/js/app.mjs", {{"if-none-match", "\"other\""}}).status == 200);
}

TEST_CASE("ui: paths outside the folder, symlinks and unknown files are 404") {
  Fixture f;
  for (const char* p : {"/ui/../secret.txt", "/ui/js/../../secret.txt", "/ui/link.txt", "/ui/nope.js",
                        "/ui//etc/passwd", "/ui/js/", "/ui/%2e%2e/secret.txt", "/ui/index.html\\..\\x"}) {
    INFO(p);
    auto r = call(f.handler, "GET", p);
    CHECK(r.status == 404);
    CHECK(r.body.find("outside") == std::string::npos);
    CHECK(header(r, "X-Content-Type-Options") == "nosniff");
  }
  CHECK(f.api_paths.empty());
}

TEST_CASE("ui: / and /ui redirect to /ui/, other methods are 405, the API gets the rest") {
  Fixture f;
  for (const char* p : {"/", "/ui"}) {
    auto r = call(f.handler, "GET", p);
    CHECK(r.status == 302);
    CHECK(header(r, "Location") == "/ui/");
  }
  auto post = call(f.handler, "POST", "/ui/index.html");
  CHECK(post.status == 405);
  CHECK(header(post, "Allow") == "GET, HEAD");
  auto api = call(f.handler, "GET", "/v1/review/next");
  CHECK(f.api_paths == "/v1/review/next;");
  CHECK(header(api, "X-Content-Type-Options") == "nosniff");  // API replies too
  CHECK(header(api, "Content-Security-Policy").empty());
  CHECK(call(f.handler, "GET", "/uix").status == 200);  // not /ui/: the API's
}

TEST_CASE("ui: /v1/openapi.json is the folder's openapi.json, without a token") {
  Fixture f;
  CHECK(call(f.handler, "GET", "/v1/openapi.json").status == 200);
  CHECK(f.api_paths == "/v1/openapi.json;");  // none in the folder: the API answers
  write(f.www / "openapi.json", R"({"openapi": "3.1.0"})");
  auto h = hitl::ui::with_ui(hitl::ui::Assets::load(f.www), [](Request&&, hitl::http::Respond) { FAIL("api called"); });
  auto r = call(h, "GET", "/v1/openapi.json");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"openapi": "3.1.0"})");
  CHECK(header(r, "X-Content-Type-Options") == "nosniff");
}

TEST_CASE("ui: a missing folder serves nothing and says so") {
  hitl::test::TempDir dir{"hitl-ui-none"};
  auto assets = hitl::ui::Assets::load(dir.path / "absent");
  CHECK(assets->size() == 0);
  auto h = hitl::ui::with_ui(assets, [](Request&&, hitl::http::Respond) { FAIL("api called"); });
  auto r = call(h, "GET", "/ui/");
  CHECK(r.status == 404);
  CHECK(r.body.find("not installed") != std::string::npos);
}

TEST_CASE("ui: content types by extension") {
  using hitl::ui::content_type_of;
  CHECK(content_type_of("a.mjs") == "text/javascript; charset=utf-8");
  CHECK(content_type_of("a.svg") == "image/svg+xml");
  CHECK(content_type_of("a.png") == "image/png");
  CHECK(content_type_of("LICENSE") == "application/octet-stream");
}
