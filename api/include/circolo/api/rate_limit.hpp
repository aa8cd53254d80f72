#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace circolo::api {

// Token buckets by key ("coupons:member:mem_…", "auth-failures:10.0.0.7"), in this instance's
// memory: a principal or address that goes too fast is told to wait (429 with Retry-After). Per
// instance, so N instances allow N times the rate: the limits are set against guessing (codes,
// identifiers, keys), where that factor does not matter.
class RateLimiter {
 public:
  struct Rule {
    double per_second = 1;  // refill
    double burst = 10;      // the bucket's size
  };
  using Clock = std::chrono::steady_clock;

  // Takes one token for `key`: nullopt when there was one, else how long until there is.
  std::optional<std::chrono::seconds> take(const std::string& key, const Rule& rule,
                                           Clock::time_point now = Clock::now());
  // Whether `key` has a token now, without taking it.
  bool has(const std::string& key, const Rule& rule, Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at{};
    Rule rule;  // its own: a sweep judges each bucket by the rule that fills it
  };
  Bucket& refilled(const std::string& key, const Rule& rule, Clock::time_point now);

  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  Clock::time_point swept_{};
};

// The limits of this server (docs/security.md).
struct RateLimits {
  // Coupon validate/redeem/reserve by a member token: guessing codes (an app needs a few).
  RateLimiter::Rule member_coupons{0.5, 20};
  // The same by a touchpoint key: a checkout backend validates many codes, but a leaked key must
  // not try codes at full speed either (a hundred a second is ~2^-43 of a code space a second).
  RateLimiter::Rule touchpoint_coupons{100, 500};
  // Member lookups by identifier with a touchpoint key: a leaked POS key listing customers.
  RateLimiter::Rule touchpoint_lookups{20, 100};
  // Failed authentications from one client address: guessing keys and tokens (each costs a
  // database lookup).
  RateLimiter::Rule auth_failures{2, 100};
};

// The limit on coupon validate/redeem/reserve for a principal of this role (none for admins).
const RateLimiter::Rule* coupon_check_limit(const RateLimits& limits, bool member, bool touchpoint);

}  // namespace circolo::api
