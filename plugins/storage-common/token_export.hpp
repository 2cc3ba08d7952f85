// Storage 1.3's export_tokens, the same statement on SQLite and PostgreSQL: every token in name
// order with the row's hash and revoked flag, and the name's role, domains and creation as
// token_life keeps them (a revocation overwrites the row's with its own time and a hash no secret
// has, while token_life keeps what the token was). A row without a life (none is expected: both
// schemas fill it by trigger) answers the row's own values. Columns, in this order: name, role,
// domains, hash, created_ms, revoked, expires_ms, last_used_ms, revoked_ms.
#pragma once

namespace hitl::storage_common {

inline constexpr const char* kExportTokensSql =
    "SELECT t.name, COALESCE(l.role, t.role), COALESCE(l.domains, t.domains), t.hash, "
    "COALESCE(l.created_ms, t.created_ms), t.revoked, COALESCE(l.expires_ms, 0), COALESCE(l.last_used_ms, 0), "
    "COALESCE(l.revoked_ms, CASE WHEN t.revoked THEN t.created_ms ELSE 0 END) "
    "FROM tokens t LEFT JOIN token_life l ON l.name = t.name ORDER BY t.name";

}  // namespace hitl::storage_common
