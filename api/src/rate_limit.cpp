#include "circolo/api/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace circolo::api {

RateLimiter::Bucket& RateLimiter::refilled(const std::string& key, const Rule& rule,
                                           Clock::time_point now) {
  // Full buckets hold nothing worth keeping: dropped when the map grows large (at most once a
  // second, so that a map of busy buckets is not swept on every call).
  if (buckets_.size() > 100'000 && now - swept_ >= std::chrono::seconds(1)) {
    swept_ = now;
    std::erase_if(buckets_, [&](const auto& entry) {
      const auto& b = entry.second;
      const std::chrono::duration<double> idle = now - b.at;
      return b.tokens + idle.count() * b.rule.per_second >= b.rule.burst;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{rule.burst, now, rule});
  auto& b = it->second;
  if (!fresh) {
    const std::chrono::duration<double> elapsed = now - b.at;
    b.tokens = std::min(rule.burst, b.tokens + std::max(0.0, elapsed.count()) * rule.per_second);
    b.at = now;
  }
  return b;
}

std::optional<std::chrono::seconds> RateLimiter::take(const std::string& key, const Rule& rule,
                                                      Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto& b = refilled(key, rule, now);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  const double wait = (1 - b.tokens) / rule.per_second;
  return std::chrono::seconds(static_cast<long long>(std::ceil(wait)));
}

bool RateLimiter::has(const std::string& key, const Rule& rule, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return refilled(key, rule, now).tokens >= 1;
}

const RateLimiter::Rule* coupon_check_limit(const RateLimits& limits, bool member,
                                            bool touchpoint) {
  if (member) return &limits.member_coupons;
  if (touchpoint) return &limits.touchpoint_coupons;
  return nullptr;
}

}  // namespace circolo::api
