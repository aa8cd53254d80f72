#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "circolo/engine/clock.hpp"

// What a member is interested in, learnt from what it does: recency-weighted affinity to
// categories, brands and products, the channel and store it prefers, its last purchase and its
// spend over recent periods. Kept with the member, updated by each of its events (for members
// who agreed to profiling), read by rules, touchpoints and offers.
namespace circolo::engine::interests {

// A score halves in this time without new evidence: last season's shoes count half as much as
// this month's.
inline constexpr auto kHalfLife = std::chrono::days(90);
// Kept per kind (the lowest go first): every event of the member rewrites its row with the
// profile, so it stays under a kilobyte or so whatever the history (bench/README.md, issue 19's
// event path).
inline constexpr std::size_t kMaxCategories = 20, kMaxBrands = 20, kMaxProducts = 20;
// Purchase days kept for spend over recent periods (a year and a day).
inline constexpr int kSpendDays = 366;

enum class Kind { category, brand, product };

struct Profile {
  TimePoint as_of{};  // the scores below are decayed to this time
  std::map<std::string, double> categories, brands, products;
  std::map<std::string, double> channels, stores;  // events on each, decayed
  std::optional<TimePoint> last_purchase;
  std::map<std::int64_t, std::int64_t> spend;  // day (since the epoch, UTC): minor units paid
  bool empty() const { return !last_purchase && channels.empty() && categories.empty(); }
  friend bool operator==(const Profile&, const Profile&) = default;
};

struct Line {
  std::string category, brand, sku;
  std::int64_t quantity = 1;
  std::int64_t amount_minor = 0;  // price × quantity
};

// One event seen: a purchase (weight 1, its total counts as spend) or a custom event carrying
// items, such as product_viewed (a smaller weight: looking is less than buying).
struct Observation {
  TimePoint at{};
  std::string channel;
  std::optional<std::string> store;
  std::vector<Line> lines;
  double weight = 1.0;
  std::optional<std::int64_t> spend_minor;  // purchases: what was paid
};

// The profile after `seen`. A purchase gives its lines one unit of interest shared by their
// value (by quantity when nothing has a price); a late event (offline tills) counts as old as
// it is. `now` bounds what is kept of spend.
Profile observe(Profile profile, const Observation& seen, TimePoint now);

// The share of the member's interest of that kind that `key` holds, 0 to 1 (decay cancels out:
// every score of a kind fades alike).
double affinity(const Profile& profile, Kind kind, const std::string& key);
// The top `n` of a kind, highest first, with their shares.
std::vector<std::pair<std::string, double>> top(const Profile& profile, Kind kind, std::size_t n);
// The channel (store) with the most events, recency-weighted; ties to the first by name.
std::optional<std::string> preferred_channel(const Profile& profile);
std::optional<std::string> preferred_store(const Profile& profile);
// Whole days since the last purchase (none: never bought).
std::optional<std::int64_t> days_since_purchase(const Profile& profile, TimePoint now);
// Minor units paid in purchases in the last `days` days, today included.
std::int64_t spend_within(const Profile& profile, int days, TimePoint now);

}  // namespace circolo::engine::interests
