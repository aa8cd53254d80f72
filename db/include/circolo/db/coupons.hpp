#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/coupons.hpp"

// Coupon codes, holds, redemptions and reward claims. Every change to a code happens under its
// row lock (lock()), so uses are exact whatever the concurrency.
namespace circolo::db::coupons {

struct Code {
  std::string code;
  std::string coupon, name;  // the template
  int digits = 2;
  engine::coupons::Terms terms;
  std::optional<std::string> member_id;
  engine::TimePoint issued_at{}, expires_at{};
  int uses_allowed = 1, uses = 0;
  std::string source;
  std::optional<std::string> source_id;
};

// The id of these terms, stored on first use.
long long terms_id(soci::session& sql, const std::string& coupon, const std::string& name,
                   int digits, const engine::coupons::Terms& terms);

struct NewCode {
  long long terms_id = 0;
  std::optional<std::string> member_id;
  engine::TimePoint issued_at{}, expires_at{};
  int uses_allowed = 1;
  std::string source;
  std::optional<std::string> source_id;
};
// Stores one code; false if the code exists already (draw another).
bool insert(soci::session& sql, const std::string& code, const NewCode& common);
// Cryptographically strong random bytes (OpenSSL), for drawing codes.
void strong_random(unsigned char* out, std::size_t n);

// One code of a template's terms, drawn and stored (another draw on the rare collision), for a
// member (coupon.issued is published) or unassigned. Returns the code.
struct Issue {
  std::string coupon, name;
  int digits = 2;
  engine::coupons::Terms terms;
  engine::TimePoint expires_at{};
  int uses = 1;
  std::optional<std::string> member_id;
  std::string source;
  std::optional<std::string> source_id;
};
std::string issue(soci::session& sql, const Issue& issue, engine::TimePoint now);

// Stores many codes in one COPY inside a savepoint; false (and nothing stored) if any of them
// exists already.
// `codes` are pairs of engine::coupons::code_number and code, best in number order.
bool insert_many(soci::session& sql, const std::vector<std::pair<std::int64_t, std::string>>& codes,
                 const NewCode& common);

// Which of these code numbers are stored already.
std::set<std::int64_t> existing(soci::session& sql,
                                const std::vector<std::pair<std::int64_t, std::string>>& codes);

std::optional<Code> find(soci::session& sql, const std::string& code);
// The code, its row locked until the transaction ends.
std::optional<Code> lock(soci::session& sql, const std::string& code);
// Codes a member may still use (not expired, uses left), soonest expiring first.
std::vector<Code> usable_of(soci::session& sql, const std::string& member_id,
                            engine::TimePoint now);

struct Hold {
  std::string id, code, member_id, channel;
  engine::TimePoint created_at{}, expires_at{};
};
// Unexpired, unconsumed holds of a code.
std::vector<Hold> open_holds(soci::session& sql, const std::string& code, engine::TimePoint now);
void insert_hold(soci::session& sql, const Hold& hold);
void renew_hold(soci::session& sql, const std::string& id, engine::TimePoint expires_at);
void end_hold(soci::session& sql, const std::string& id, const std::string& redemption_id,
              engine::TimePoint at);

struct Redemption {
  std::string id, code, member_id, channel;
  std::optional<std::string> order_id, event_id, hold_id;
  long long total_minor = 0, discount_minor = 0;
  engine::TimePoint redeemed_at{};
  std::optional<engine::TimePoint> rolled_back_at;
};
// Records a redemption: one more use of the code, bound to the member if it was unassigned.
void redeem(soci::session& sql, const Redemption& redemption);
// Takes one decided use: ends the member's hold (when `hold_id`), records the redemption and
// publishes coupon.redeemed. `coupon` and `digits`: the code's template and currency.
void record_redemption(soci::session& sql, const Redemption& redemption, const std::string& coupon,
                       int digits);

// A code as a use of it is decided on: its row (locked when `lock`) and its open holds, the
// member's own apart and the others' counted. nullopt: no such code.
struct UseState {
  Code stored;
  engine::coupons::CodeState state;
  std::optional<Hold> own_hold;
};
std::optional<UseState> read_use(soci::session& sql, const std::string& code,
                                 const std::string& member_id, engine::TimePoint now, bool lock);

std::optional<Redemption> lock_redemption(soci::session& sql, const std::string& id);
std::vector<Redemption> redemptions_of(soci::session& sql, const std::string& code);
// Marks it rolled back and gives its use back.
void roll_back(soci::session& sql, const Redemption& redemption, engine::TimePoint at);

// Codes of members that expire before `until` and were not announced yet, oldest first; marked
// announced. Called by the job that publishes coupon.expiring.
std::vector<Code> take_expiring(soci::session& sql, engine::TimePoint now, engine::TimePoint until,
                                int limit);

// Takes one unit of a reward's stock (its counter row, locked until commit, so that claims queue
// on it and the last unit goes once); returns how many were taken with this one.
long long take_stock(soci::session& sql, const std::string& counter_key);

void insert_claim(soci::session& sql, const std::string& id, const std::string& reward,
                  const std::string& member_id, long long points, const std::string& code,
                  engine::TimePoint at);

// Merge: codes, holds and redemptions of `from` now belong to `into`.
void move_member(soci::session& sql, const std::string& into, const std::string& from);

nlohmann::json terms_json(const engine::coupons::Terms& terms);

}  // namespace circolo::db::coupons
