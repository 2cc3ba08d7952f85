#pragma once
// The /v1 REST API (docs/http-api.md) as an HTTP handler over one assembled App.
#include "app/app.hpp"
#include "http/server.hpp"

namespace hitl::service {

http::Handler make_api_handler(App& app);

}  // namespace hitl::service
