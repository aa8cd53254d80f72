#pragma once

#include <nlohmann/json.hpp>

#include "circolo/db/members.hpp"
#include "circolo/engine/clock.hpp"

namespace circolo::api {

class App;
class ProgramStore;

// The member's interest profile as touchpoints see it: the top categories, brands and products
// with their share of its interest, preferred channel and store, last purchase, recent spend.
nlohmann::json interests_json(const db::Member& member, int currency_digits, engine::TimePoint now);

// GET /v1/members/{id}/interests.
void register_interest_routes(App& app, const ProgramStore& store);

}  // namespace circolo::api
