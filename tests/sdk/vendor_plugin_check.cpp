// Loads the vendor example plugin (built out of tree against the installed SDK) with the host's
// loader and checks it behaves as its README says. The .so path comes from HITL_VENDOR_PLUGIN;
// vendor_build_test.cmake builds the plugin and runs this binary, twice: once built as today's
// host, once (HITL_NEXT_MINOR_HOST) against the SDK's generated next minor.
#include "plugin/plugin_registry.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <iterator>
#include <optional>

using namespace hitl;

namespace {

plugin::LoadedPlugin load_vendor_plugin() {
  const char* path = std::getenv("HITL_VENDOR_PLUGIN");
  REQUIRE(path != nullptr);
  return plugin::load_plugin(path);
}

sdk::Record row(const std::string& text, double amount) {
  return {{"text", text}, {"amount", amount}, {"channel", std::string("email")}};
}

}  // namespace

TEST_CASE("vendor plugin loads through the host loader and describes itself") {
  auto p = load_vendor_plugin();
  CHECK(p.path.filename() == "model-keyword-rules.so");
  CHECK(p.descriptor->kind == sdk::PluginKind::model);
  CHECK(std::string(p.descriptor->name) == "keyword-rules");
  CHECK(std::string(p.descriptor->version) == "1.0.0");
  CHECK(std::string(p.descriptor->config_doc).find("\"keywords\"") != std::string::npos);
}

TEST_CASE("vendor plugin predicts with its defaults and with a config") {
  plugin::Registry registry;
  registry.add(load_vendor_plugin());

  auto defaults = registry.create_model("keyword-rules", "{}");
  std::vector<sdk::Prediction> out;
  REQUIRE(defaults->predict({row("Where is my REFUND? This looks like fraud.", 20),
                             row("thanks, all good", 20), row("hello", 5000)},
                            out).ok());
  REQUIRE(out.size() == 3);
  CHECK(out[0].label == "review");  // two keywords: 0.05 + 2 * 0.35
  CHECK(out[0].confidence == Approx(0.75));
  CHECK(out[1].label == "ok");
  CHECK(out[1].confidence == Approx(0.95));
  CHECK(out[2].label == "review");  // amount above 1000: 0.05 + 0.5
  CHECK(out[2].confidence == Approx(0.55));

  auto custom = registry.create_model(
      "keyword-rules", R"({"keywords":["Lawsuit"],"keyword_weight":0.6,"amount_threshold":100,"positive_label":"escalate"})");
  REQUIRE(custom->predict({row("we will file a LAWSUIT!", 1), row("refund please", 1), row("hi", 150)}, out).ok());
  REQUIRE(out.size() == 3);
  CHECK(out[0].label == "escalate");  // 0.05 + 0.6
  CHECK(out[0].confidence == Approx(0.65));
  CHECK(out[1].label == "ok");        // "refund" is not a keyword any more
  CHECK(out[2].label == "escalate");  // 150 > 100: 0.05 + 0.5
  CHECK(custom->version() != defaults->version());

  // A record of the wrong shape is an error Status, not a crash, and leaves `out` alone.
  sdk::Record bad = {{"text", 3.0}};
  auto s = custom->predict({bad}, out);
  CHECK(s.code == sdk::Code::invalid_argument);
  CHECK(s.message == "row 0: field 'text' must be a string");
  CHECK(out.size() == 3);
}

TEST_CASE("vendor plugin refuses a bad config through its factory Status") {
  plugin::Registry registry;
  auto p = load_vendor_plugin();
  const auto file = p.path.string();
  registry.add(std::move(p));
  CHECK_THROWS_WITH(registry.create_model("keyword-rules", R"({"keyword_wieght":0.2})"),
                    file + ": factory for model 'keyword-rules' failed: unknown option 'keyword_wieght'");
  CHECK_THROWS_WITH(registry.create_model("keyword-rules", R"({"amount_weight":"lots"})"),
                    file + ": factory for model 'keyword-rules' failed: option 'amount_weight' must be a "
                           "number, got 'lots'");
  CHECK_THROWS_WITH(registry.create_model("keyword-rules", "{not json"),
                    Catch::Contains("failed: config is not valid JSON"));
}

#ifdef HITL_NEXT_MINOR_HOST
// A host of the next minor calls the method that minor added only on objects of plugins whose
// descriptor says they have it: the rule docs/plugin-sdk.md gives for every added method.
namespace {
std::optional<std::uint32_t> probe_if_known(const std::shared_ptr<sdk::Model>& model) {
  const auto api = plugin::api_of(model);
  if (!api || api->minor < sdk::kModelApi.minor) return std::nullopt;  // its vtable ends before the slot
  return model->next_minor_probe();
}
}  // namespace

TEST_CASE("a host of the next minor loads the older-minor vendor plugin and never calls what it lacks") {
  auto p = load_vendor_plugin();
  REQUIRE(p.descriptor->api.major == sdk::kModelApi.major);
  REQUIRE(p.descriptor->api.minor + 1 == sdk::kModelApi.minor);  // built against the previous minor
  CHECK(p.descriptor->struct_count + 1 == std::size(sdk::kModelStructSizes));
  auto model = plugin::create_model(p, "{}");
  REQUIRE(plugin::api_of(model).has_value());
  CHECK(plugin::api_of(model)->minor == p.descriptor->api.minor);
  CHECK_FALSE(probe_if_known(model).has_value());
}

TEST_CASE("a host of the next minor calls the new method on a plugin built against that minor") {
  auto p = plugin::load_plugin(std::string(HITL_FIXTURE_PLUGIN_DIR) + "/model_next_minor.so");
  auto model = plugin::create_model(p, "{}");
  CHECK(probe_if_known(model) == std::optional<std::uint32_t>(42));  // the plugin's override, not the default
}
#endif
