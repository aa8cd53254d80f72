#pragma once

#include <soci/soci.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "circolo/api/http.hpp"
#include "circolo/engine/clock.hpp"

namespace circolo::api {

class App;

// Appends to the audit trail, in the caller's transaction, what `request`'s principal did:
// `action` ("member.merged", "key.revoked"...) to `target` (a member, key, version...).
void audit(soci::session& sql, const Request& request, engine::TimePoint at,
           const std::string& action, const std::optional<std::string>& target,
           nlohmann::json detail = nlohmann::json::object());

// An admin key reading a member's data (`what`: "profile", "ledger"...) is recorded as
// member.viewed: head office browsing customers is what the trail is for. A till serving the
// customer in front of it, or the member's own app, is not recorded (it would bury the rest).
void audit_admin_read(soci::session& sql, const Request& request, engine::TimePoint at,
                      const std::string& member_id, const char* what);

// GET /v1/admin/audit.
void register_audit_routes(App& app);

}  // namespace circolo::api
