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

// GET /v1/admin/audit.
void register_audit_routes(App& app);

}  // namespace circolo::api
