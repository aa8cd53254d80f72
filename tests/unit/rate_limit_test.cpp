#include "circolo/api/rate_limit.hpp"

#include <gtest/gtest.h>

namespace circolo::api {
namespace {

using Clock = RateLimiter::Clock;

TEST(RateLimit, ABurstThenTheRefillRate) {
  RateLimiter limiter;
  const RateLimiter::Rule rule{2, 5};
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.take("k", rule, t0)) << i;
  const auto wait = limiter.take("k", rule, t0);
  ASSERT_TRUE(wait);
  EXPECT_GE(wait->count(), 1) << "Retry-After is at least a second";
  EXPECT_FALSE(limiter.take("k", rule, t0 + std::chrono::milliseconds(600))) << "refilled one";
  EXPECT_FALSE(limiter.take("other", rule, t0)) << "each key has its own bucket";
}

// Coupon checks are limited for every principal that is not an admin: a member token to a few
// a minute, a touchpoint key (a leaked one guessing codes) to a hundred a second after 500.
TEST(RateLimit, CouponChecksPerPrincipal) {
  const RateLimits limits;
  EXPECT_EQ(coupon_check_limit(limits, true, false), &limits.member_coupons);
  EXPECT_EQ(coupon_check_limit(limits, false, true), &limits.touchpoint_coupons);
  EXPECT_EQ(coupon_check_limit(limits, false, false), nullptr);
  RateLimiter limiter;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  int refused = 0;
  for (int i = 0; i < 1000; ++i)  // a thousand guesses within one second
    refused +=
        limiter
            .take("coupons:key_pos", limits.touchpoint_coupons, t0 + std::chrono::milliseconds(i))
            .has_value();
  EXPECT_GE(refused, 350);
  EXPECT_LE(refused, 450);
}

}  // namespace
}  // namespace circolo::api
