#pragma once
// hitl plugin SDK helper: a plugin's entry point in one statement, header-only. It expands to
// exactly what docs/plugin-sdk.md spells out: a function returning the descriptor that
// model_descriptor() / queue_descriptor() / storage_descriptor() builds, exported as
// `hitl_plugin_descriptor` with HITL_DECLARE_PLUGIN. No part of the plugin ABI.
#include <hitl/plugin_api.hpp>

#include <boost/dll/alias.hpp>

// HITL_PLUGIN_ENTRY(ns, kind, name, version, description, config_doc, factory): `ns` is the
// plugin's namespace (where config_doc and factory are looked up), `kind` is model, queue or
// storage. Once per plugin, at file scope (outside any namespace).
#define HITL_PLUGIN_ENTRY(ns, kind, ...)                                                          \
  namespace ns {                                                                                \
  const ::hitl::sdk::PluginDescriptor* descriptor() {                                           \
    static const ::hitl::sdk::PluginDescriptor d = ::hitl::sdk::kind##_descriptor(__VA_ARGS__); \
    return &d;                                                                                  \
  }                                                                                             \
  }                                                                                             \
  HITL_DECLARE_PLUGIN(ns::descriptor)
