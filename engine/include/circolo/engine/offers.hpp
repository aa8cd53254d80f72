#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/coupons.hpp"
#include "circolo/engine/interests.hpp"
#include "circolo/engine/recommend.hpp"

// The next best offer: a short ranked list of what a member can act on now, each with the reason
// a person can read. Pure: everything it looks at is loaded before (db/) and passed in; the
// clock is the request's `now`.
namespace circolo::engine::offers {

enum class Kind { reward, coupon, challenge, campaign, recommendation };
// "reward", "coupon", "challenge", "campaign", "recommendation".
std::string_view name(Kind kind);

// A reward of the catalog: its points and what is left of its stock (none: unlimited). The
// channels are those of the coupon it gives (empty: every channel).
struct Reward {
  std::string id, name;
  std::int64_t cost = 0;
  std::optional<std::int64_t> remaining;
  std::vector<std::string> channels;
};

// A code in the member's wallet that it may still use (not expired, uses left).
struct Coupon {
  std::string code, coupon, name;  // the code, its template and the template's name
  int digits = 2;                  // of the currency its terms are in
  coupons::Terms terms;
  TimePoint expires_at{};
};

// A challenge of the active program and the member's progress toward its goal (sum goals in
// 10^-scale units, the currency's digits).
struct Challenge {
  std::string id, name;
  std::int64_t progress = 0, goal = 0;
  int scale = 0;
  bool done = false;  // completed and not repeatable
};

// A campaign of the active program: when it runs, whether it is paused, the channels it runs on
// (empty: every channel) and the categories its rules reward (from its conditions).
struct Campaign {
  std::string id, name;
  std::optional<TimePoint> from, until;
  bool paused = false;
  std::vector<std::string> channels, categories;
  // Its `audience`: for members in one of these segments only (none: everyone).
  std::vector<std::string> audience;
};

struct Input {
  std::int64_t points_available = 0;
  std::vector<Reward> rewards;
  std::vector<Coupon> coupons;
  std::vector<Challenge> challenges;
  std::vector<Campaign> campaigns;
  std::vector<std::string> segments;  // the member's, sorted: campaigns' audiences
  interests::Profile interests;
  // Consent to profiling: without it nothing is ranked by interests, nothing is recommended and
  // no campaign is matched to interests; only what the member owns or can claim is offered.
  bool profiling = false;
  const recommend::CoOccurrence* model = nullptr;  // none yet: no recommendations
  // A touchpoint's channel: only coupons, rewards and campaigns valid there. None: every channel
  // (an admin, the member's own app token).
  std::optional<std::string> channel;
  // What the touchpoint says of the basket in front of it (optional).
  std::vector<std::string> basket_categories;
  std::optional<std::int64_t> basket_total_minor;
  TimePoint now{};
  std::size_t limit = 5;
};

struct Offer {
  Kind kind = Kind::reward;
  std::string id;      // reward, code, challenge, campaign or category
  std::string title;   // its name
  std::string reason;  // "40 points from Free coffee"
  double score = 0;    // 0 to 1, higher first
  friend bool operator==(const Offer&, const Offer&) = default;
};

// A reward the member cannot claim yet is offered when at least 1/kCloseShareDenominator of its
// cost is there ("40 points from Free coffee").
inline constexpr std::int64_t kCloseShareDenominator = 2;
// A coupon expiring this soon is pointed out (and ranked a little higher).
inline constexpr auto kExpiringSoon = std::chrono::days(3);

// The `limit` best offers, highest score first (ties: kind in declaration order, then id).
std::vector<Offer> rank(const Input& input);

}  // namespace circolo::engine::offers
