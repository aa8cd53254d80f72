#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <soci/soci.h>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "circolo/db/coupons.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/coupons.hpp"
#include "circolo/rules/evaluate.hpp"

// Coupons and rewards: issue, validate, reserve, redeem, roll back, claim. The decisions are
// engine::coupons'; these functions run them inside the caller's transaction with the code's row
// locked, so that each use is taken exactly once.
namespace circolo::api {

class App;
class ProgramStore;

// One use of a code: who, for which basket, where.
struct CouponUse {
  std::string code;  // as typed: any case, blanks allowed
  std::string member_id;
  long long total_minor = 0;
  std::string channel;
  std::optional<std::string> order_id, event_id;
  // When the basket was paid, if not now: an offline POS catching up redeems as of the sale
  // (expiry is checked then; holds and uses as they are now).
  std::optional<engine::TimePoint> used_at;
  // At most this much discount (what earlier coupons of the same basket left of the total).
  std::optional<long long> discount_limit;
  // Reserving: the member's own hold does not make room for another one.
  bool reserving = false;
  // A member's own token: a code of another member is answered as no code at all, so that
  // guessing codes tells nothing about who holds which.
  bool as_member = false;
};

struct CouponDecision {
  std::string code;  // canonical
  // "ok", unknown_coupon, or an engine::coupons::Refusal code.
  std::string refusal = "ok";
  std::string detail;
  long long discount_minor = 0;
  int uses_left = 0;  // after other members' holds
  std::optional<db::coupons::Code> stored;
  std::optional<db::coupons::Hold> own_hold;
};

// Whether the use is possible now, reading the code (locked when `lock`) and its holds.
CouponDecision decide_coupon(soci::session& sql, const CouponUse& use, engine::TimePoint now,
                             bool lock);
// The problem for a refused decision: 404 unknown_coupon, 409 coupon_already_redeemed, 422 for
// the others (expired, not owned, channel, minimum total).
[[noreturn]] void refuse_coupon(const CouponDecision& decision, const std::string& field = "code");

struct Redeemed {
  std::string redemption_id, code, coupon;
  long long discount_minor = 0;
  int digits = 2;
};
// Takes one use (the member's own hold, if it has one), binds an unassigned code to the member,
// and publishes coupon.redeemed. Throws ApiError when refused.
Redeemed redeem_coupon(soci::session& sql, const CouponUse& use, engine::TimePoint now,
                       const std::string& field = "code");

// Issues one code of the program's template `coupon` (to `member_id`, or unassigned) and, for a
// member, publishes coupon.issued. Returns {"coupon","code","expires_at"}.
nlohmann::json issue_coupon(soci::session& sql, const rules::CompiledProgram& program,
                            const std::string& coupon, const std::optional<std::string>& member_id,
                            engine::TimePoint now, const std::string& source,
                            const std::optional<std::string>& source_id);

// A code's JSON: template, terms as money strings, owner, expiry, uses.
nlohmann::json coupon_json(const db::coupons::Code& code);

struct CouponSettings {
  // A coupon.expiring event is published this long before a member's code expires.
  std::chrono::seconds expiring_notice = std::chrono::hours(24 * 3);
  std::chrono::seconds max_hold = std::chrono::hours(1);
  std::chrono::seconds default_hold = std::chrono::minutes(15);
  std::size_t max_generate = 1'000'000;
};

struct Services;
// Publishes coupon.expiring for members' codes that expire within `notice` (each code once);
// safe on several instances at once. Returns how many were announced.
boost::asio::awaitable<long long> announce_expiring_coupons(Services& services,
                                                            std::chrono::seconds notice);

void register_coupon_routes(App& app, ProgramStore& store, const CouponSettings& settings);
// GET /v1/rewards, POST /v1/rewards/{id}/claim.
void register_reward_routes(App& app, ProgramStore& store);

}  // namespace circolo::api
