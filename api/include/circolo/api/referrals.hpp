#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/api/problem.hpp"
#include "circolo/engine/clock.hpp"

// Referrals at the edges: the `referral_code` of enrolling requests, and the routes that show a
// member's code and referrals and the referrals report.
namespace circolo::api {

class App;
class ProgramStore;

// The body's "referral_code", normalised (errors added for a bad one).
std::optional<std::string> parse_referral_code(const nlohmann::json& body,
                                               std::vector<FieldError>& errors);

// Starts the referral that a request enrolling (or finding) `member_id` asks for with `code`, or
// records why it is refused (engine::referrals::refusal_at_start). An unknown code is 422
// unknown_referral_code (the caller's transaction rolls back). Returns the id of the referral
// started (none: refused).
std::optional<std::string> start_referral(soci::session& sql, const std::string& code,
                                          const std::string& member_id, bool enrolled,
                                          const std::string& channel, const std::string& key_id,
                                          const std::optional<std::string>& event_id,
                                          engine::TimePoint now);

// GET /v1/members/{id}/referral, GET /v1/members/{id}/referrals,
// GET /v1/admin/reports/referrals.
void register_referral_routes(App& app, const ProgramStore& store);

}  // namespace circolo::api
