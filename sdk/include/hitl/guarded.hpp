#pragma once
// hitl plugin SDK helper: the rule that no exception leaves a plugin (docs/plugin-sdk.md, "Status,
// never exceptions") in one place, header-only and without dependencies. No part of the plugin
// ABI (each plugin compiles its own copy).
#include <hitl/plugin_api.hpp>

#include <exception>
#include <string>

namespace hitl::sdk {

// Runs an entry point's body (a factory, predict, train, ...) and returns its Status; an exception
// that escapes the body becomes Code::internal "<context>: <what>" instead of crossing the plugin
// boundary.
template <class Body>
Status guarded(const std::string& context, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, context + ": " + e.what());
  } catch (...) {
    return Status::Error(Code::internal, context + ": unknown exception");
  }
}

}  // namespace hitl::sdk
