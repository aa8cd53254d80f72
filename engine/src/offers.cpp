#include "circolo/engine/offers.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "circolo/engine/campaigns.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::engine::offers {

namespace {

// Scores: what the member can do now first (a claimable reward, a code that fits the basket),
// then what it is close to, then what it might like. Each kind keeps its own band so that the
// order is explainable: within a band, the closer (or the more liked) comes first.
constexpr double kCouponFitsBasket = 0.95;
constexpr double kRewardClaimable = 0.9;
constexpr double kCouponLiked = 0.8;  // + up to 0.1 by the member's affinity
constexpr double kCouponOwned = 0.7;  // + 0.05 when it expires soon
constexpr double kCouponShort = 0.6;  // the basket is below its minimum
constexpr double kChallenge = 0.3;    // + 0.6 × progress share
constexpr double kRewardClose = 0.3;  // + 0.5 × share of its cost there
constexpr double kCampaignBasket = 0.75;
constexpr double kCampaignLiked = 0.4;   // + 0.4 × affinity
constexpr double kRecommendation = 0.1;  // + 0.3 × co-occurrence score (at most 1)

bool valid_on(const std::vector<std::string>& channels, const std::optional<std::string>& channel) {
  return !channel || channels.empty() ||
         std::find(channels.begin(), channels.end(), *channel) != channels.end();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "2026-12-03": the UTC date of a time.
std::string date_of(TimePoint t) {
  return format_rfc3339(t).substr(0, 10);
}

std::string percent_text(std::int64_t percent_e4) {
  std::string whole = std::to_string(percent_e4 / 10000);
  std::int64_t frac = percent_e4 % 10000;
  if (frac == 0) return whole + "%";
  std::string digits = std::to_string(frac);
  digits.insert(0, 4 - digits.size(), '0');
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return whole + "." + digits + "%";
}

// "5.00 off" or "10% off".
std::string discount_text(const Coupon& c) {
  if (c.terms.percent_e4) return percent_text(*c.terms.percent_e4) + " off";
  return format_money({c.terms.amount_minor.value_or(0), c.digits}) + " off";
}

// The category the member likes most among those a text names (a coupon "10% off shoes"),
// with its share; none when it names none.
std::optional<std::pair<std::string, double>> liked_in(
    const std::vector<std::pair<std::string, double>>& liked, const std::string& text) {
  const auto haystack = lower(text);
  for (const auto& [key, share] : liked)  // highest share first
    if (share > 0 && !key.empty() && haystack.find(lower(key)) != std::string::npos)
      return std::pair{key, share};
  return std::nullopt;
}

void add_rewards(const Input& in, std::vector<Offer>& out) {
  for (const auto& r : in.rewards) {
    if (r.cost <= 0 || (r.remaining && *r.remaining <= 0) || !valid_on(r.channels, in.channel))
      continue;
    if (in.points_available >= r.cost) {
      out.push_back(
          {Kind::reward, r.id, r.name, "You can claim " + r.name + " now", kRewardClaimable});
      continue;
    }
    const auto missing = r.cost - in.points_available;
    if (in.points_available * kCloseShareDenominator < r.cost) continue;  // not close yet
    const double there = static_cast<double>(in.points_available) / static_cast<double>(r.cost);
    out.push_back(
        {Kind::reward, r.id, r.name,
         std::to_string(missing) + (missing == 1 ? " point" : " points") + " from " + r.name,
         kRewardClose + 0.5 * there});
  }
}

void add_coupons(const Input& in, const std::vector<std::pair<std::string, double>>& liked,
                 std::vector<Offer>& out) {
  for (const auto& c : in.coupons) {
    if (c.expires_at <= in.now || !valid_on(c.terms.channels, in.channel)) continue;
    const std::string title = c.name.empty() ? c.coupon : c.name;
    if (in.basket_total_minor) {
      const auto total = *in.basket_total_minor;
      if (total >= c.terms.min_total_minor) {
        const auto off = discount(c.terms, total);
        if (off > 0) {
          out.push_back({Kind::coupon, c.code, title,
                         "Fits this basket: " + format_money({off, c.digits}) + " off",
                         kCouponFitsBasket});
          continue;
        }
      } else {
        out.push_back({Kind::coupon, c.code, title,
                       "Spend " + format_money({c.terms.min_total_minor - total, c.digits}) +
                           " more to use it",
                       kCouponShort});
        continue;
      }
    }
    if (in.profiling) {
      if (const auto hit = liked_in(liked, c.name + " " + c.coupon)) {
        out.push_back({Kind::coupon, c.code, title,
                       discount_text(c) + " " + hit->first + ", which you like",
                       kCouponLiked + 0.1 * hit->second});
        continue;
      }
    }
    if (c.expires_at - in.now <= kExpiringSoon) {
      const auto hours =
          std::chrono::duration_cast<std::chrono::hours>(c.expires_at - in.now).count();
      const auto days = (hours + 23) / 24;
      out.push_back(
          {Kind::coupon, c.code, title,
           discount_text(c) + ", expires " +
               (days <= 1 ? std::string("within a day") : "in " + std::to_string(days) + " days"),
           kCouponOwned + 0.05});
    } else {
      out.push_back({Kind::coupon, c.code, title,
                     discount_text(c) + ", in your wallet until " + date_of(c.expires_at),
                     kCouponOwned});
    }
  }
}

std::string amount_text(std::int64_t value, int scale) {
  return scale == 0 ? std::to_string(value) : format_money({value, scale});
}

void add_challenges(const Input& in, std::vector<Offer>& out) {
  for (const auto& c : in.challenges) {
    if (c.done || c.goal <= 0 || c.progress <= 0 || c.progress >= c.goal) continue;
    const double share = static_cast<double>(c.progress) / static_cast<double>(c.goal);
    out.push_back(
        {Kind::challenge, c.id, c.name,
         amount_text(c.progress, c.scale) + " of " + amount_text(c.goal, c.scale) + " done",
         kChallenge + 0.6 * share});
  }
}

void add_campaigns(const Input& in, const std::vector<std::pair<std::string, double>>& liked,
                   std::vector<Offer>& out) {
  for (const auto& c : in.campaigns) {
    if (campaigns::state(c.paused, c.from, c.until, in.now) != campaigns::State::active ||
        !valid_on(c.channels, in.channel) || c.categories.empty())
      continue;
    // A campaign for an audience the member is not in is not one it can take part in.
    if (!c.audience.empty() &&
        std::none_of(c.audience.begin(), c.audience.end(), [&](const std::string& s) {
          return std::binary_search(in.segments.begin(), in.segments.end(), s);
        }))
      continue;
    const std::string title = c.name.empty() ? c.id : c.name;
    // The basket in front of the till is no profiling: it matches whatever the consent.
    const auto in_basket =
        std::find_first_of(c.categories.begin(), c.categories.end(), in.basket_categories.begin(),
                           in.basket_categories.end());
    if (in_basket != c.categories.end()) {
      out.push_back({Kind::campaign, c.id, title, "Rewards " + *in_basket + " in this basket",
                     kCampaignBasket});
      continue;
    }
    if (!in.profiling) continue;
    for (const auto& [key, share] : liked) {  // highest share first
      if (share <= 0 ||
          std::find(c.categories.begin(), c.categories.end(), key) == c.categories.end())
        continue;
      out.push_back({Kind::campaign, c.id, title, "Rewards " + key + ", which you like",
                     kCampaignLiked + 0.4 * share});
      break;
    }
  }
}

void add_recommendations(const Input& in, const std::vector<std::pair<std::string, double>>& liked,
                         std::vector<Offer>& out) {
  if (!in.profiling || !in.model || in.model->members() == 0) return;
  std::map<std::string, double> weights(liked.begin(), liked.end());
  for (const auto& b : in.basket_categories) weights[b] = 1.0;
  // What the member buys already is no discovery: only new categories are suggested.
  std::vector<std::string> known;
  for (const auto& [key, score] : in.interests.categories) known.push_back(key);
  known.insert(known.end(), in.basket_categories.begin(), in.basket_categories.end());
  for (const auto& s : in.model->suggest(weights, in.limit, known)) {
    if (!s.because) continue;
    out.push_back({Kind::recommendation, s.key, s.key, "Bought by members who buy " + *s.because,
                   kRecommendation + 0.3 * std::min(1.0, s.score)});
  }
}

}  // namespace

std::string_view name(Kind kind) {
  switch (kind) {
    case Kind::reward:
      return "reward";
    case Kind::coupon:
      return "coupon";
    case Kind::challenge:
      return "challenge";
    case Kind::campaign:
      return "campaign";
    case Kind::recommendation:
      return "recommendation";
  }
  return "reward";
}

std::vector<Offer> rank(const Input& in) {
  std::vector<Offer> out;
  if (in.limit == 0) return out;
  // The member's categories by share, highest first: only with consent to profiling.
  std::vector<std::pair<std::string, double>> liked;
  if (in.profiling) liked = interests::top(in.interests, interests::Kind::category, 20);
  add_rewards(in, out);
  add_coupons(in, liked, out);
  add_challenges(in, out);
  add_campaigns(in, liked, out);
  add_recommendations(in, liked, out);
  std::stable_sort(out.begin(), out.end(), [](const Offer& a, const Offer& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.kind != b.kind) return a.kind < b.kind;
    return a.id < b.id;
  });
  if (out.size() > in.limit) out.resize(in.limit);
  return out;
}

}  // namespace circolo::engine::offers
