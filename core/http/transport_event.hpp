#pragma once
// The HTTP transport's own events, apart from the server so that metrics/ can count them
// without depending on the server.
namespace hitl::http {

// What the transport did on its own, without the handler: the service counts these in /metrics.
enum class TransportEvent {
  bad_request,           // 400: malformed HTTP, bad percent-encoding, invalid UTF-8 in path or query
  payload_too_large,     // 413
  header_too_large,      // 431
  too_many_connections,  // 503 at max_connections with no idle connection to reclaim
  header_timeout,        // closed: no complete request header within header_timeout_seconds
  idle_timeout,          // closed: a body read or reply write stalled idle_timeout_seconds
  connection_reclaimed,  // an idle connection closed to make room for a new one (or a free fd)
  accept_failed,         // accept() failed (EMFILE, ENFILE, ...); retried after a pause
};
inline constexpr int kTransportEventCount = 8;
const char* event_name(TransportEvent e);  // "bad_request", "too_many_connections", ...

}  // namespace hitl::http
