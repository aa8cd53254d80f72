// Rewards: GET /v1/rewards and POST /v1/rewards/{id}/claim (points spent for a coupon, stock
// counted so that the last unit goes once).
#include <algorithm>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/coupons.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/coupons.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/engine/ledger.hpp"
#include "coupon_requests.hpp"

namespace circolo::api {

namespace {
using nlohmann::json;
using namespace coupon_requests;
const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});
}  // namespace

void register_reward_routes(App& app, ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();

  r.add({http::verb::get, "/v1/rewards", kAnyone,
         [&s, &store](Request&) -> asio::awaitable<Response> {
           const auto active = active_program(store);
           const auto& program = *active->program;
           std::vector<std::string> keys;
           for (const auto& reward : program.rewards())
             if (reward.stock) keys.push_back(stock_counter(reward.id));
           auto claimed = co_await s.db.run(
               [keys](soci::session& sql) { return db::events::read_counters(sql, keys); });
           json items = json::array();
           for (const auto& reward : program.rewards()) {
             const auto& t = program.coupon_templates().at(reward.coupon);
             json item{{"id", reward.id},
                       {"name", reward.name},
                       {"cost", reward.cost},
                       {"coupon", {{"id", t.id}, {"name", t.name}}},
                       {"stock", reward.stock ? json(*reward.stock) : json(nullptr)},
                       {"remaining", nullptr}};
             if (reward.stock) {
               const auto used = claimed.count(stock_counter(reward.id))
                                     ? claimed.at(stock_counter(reward.id))
                                     : 0;
               item["remaining"] = std::max<long long>(0, *reward.stock - used);
             }
             items.push_back(item);
           }
           co_return json_response(http::status::ok, {{"items", items}, {"next_cursor", nullptr}});
         }});

  r.add({http::verb::post, "/v1/rewards/{id}/claim", kAnyone,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto active = active_program(store);
           const auto& program = *active->program;
           const std::string reward_id = request.param("id");
           const auto rewards = program.rewards();
           const auto reward = std::find_if(rewards.begin(), rewards.end(),
                                            [&](const auto& x) { return x.id == reward_id; });
           if (reward == rewards.end())
             throw ApiError(http::status::not_found, "unknown_reward", "no reward " + reward_id);
           const auto body = request.json_body();
           std::vector<FieldError> errors;
           only_fields(body, {"member"}, errors);
           const auto member = parse_member_ref(body, errors, request.caller().member_id);
           if (!errors.empty()) throw_validation(std::move(errors));
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             const auto member_id = resolve_member(sql, request, *member);
             db::members::lock(sql, member_id);
             // Stock first: the counter row is locked until commit, so claims queue on it and
             // the last unit goes once.
             if (reward->stock) {
               if (db::coupons::take_stock(sql, stock_counter(reward->id)) > *reward->stock)
                 throw ApiError(http::status::conflict, "out_of_stock",
                                "reward " + reward->id + " is out of stock");
             }
             const std::string claim_id = new_id("clm");
             db::points::Debit debit;
             debit.points = reward->cost;
             debit.kind = "spend";
             debit.reason = "reward " + reward->id;
             take_points(sql, member_id, debit, now);
             auto issued =
                 issue_coupon(sql, program, reward->coupon, member_id, now, "reward", claim_id);
             db::coupons::insert_claim(sql, claim_id, reward->id, member_id, reward->cost,
                                       issued["code"].get<std::string>(), now);
             audit(sql, request, now, "reward.claimed", member_id,
                   {{"reward", reward->id}, {"claim_id", claim_id}, {"points", reward->cost}});
             const auto balances =
                 engine::ledger::balances(db::points::active_lots(sql, member_id), now);
             return json_response(
                 http::status::created,
                 {{"claim_id", claim_id},
                  {"reward", reward->id},
                  {"member_id", member_id},
                  {"points_spent", reward->cost},
                  {"coupon", issued},
                  {"points", {{"available", balances.available}, {"pending", balances.pending}}}});
           });
         },
         /*idempotency_required=*/true});
}

}  // namespace circolo::api
