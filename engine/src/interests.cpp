#include "circolo/engine/interests.hpp"

#include <algorithm>
#include <cmath>

namespace circolo::engine::interests {

namespace {

using std::chrono::duration;

double decay(TimePoint from, TimePoint to) {
  const auto elapsed = duration<double, std::ratio<86400>>(to - from).count();
  const auto half_lives = elapsed / duration<double, std::ratio<86400>>(kHalfLife).count();
  return std::exp2(-half_lives);
}

std::int64_t day_of(TimePoint t) {
  return std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
}

void scale(std::map<std::string, double>& scores, double factor) {
  for (auto& [key, score] : scores) score *= factor;
}

// The `keep` highest (ties by name), and nothing too faint to matter.
void prune(std::map<std::string, double>& scores, std::size_t keep) {
  std::erase_if(scores, [](const auto& e) { return e.second < 1e-4; });
  if (scores.size() <= keep) return;
  std::vector<std::pair<std::string, double>> ranked(scores.begin(), scores.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  ranked.resize(keep);
  scores = {ranked.begin(), ranked.end()};
}

const std::map<std::string, double>& scores_of(const Profile& p, Kind kind) {
  switch (kind) {
    case Kind::category:
      return p.categories;
    case Kind::brand:
      return p.brands;
    case Kind::product:
      return p.products;
  }
  return p.categories;
}

std::optional<std::string> strongest(const std::map<std::string, double>& scores) {
  std::optional<std::string> best;
  double high = 0;
  for (const auto& [key, score] : scores) {
    if (score > high) {
      high = score;
      best = key;
    }
  }
  return best;
}

}  // namespace

Profile observe(Profile p, const Observation& seen, TimePoint now) {
  // Scores live as of the newest evidence; an older event adds what it is worth today.
  double weight = seen.weight;
  if (p.as_of == TimePoint{} || seen.at > p.as_of) {
    if (p.as_of != TimePoint{}) {
      const double f = decay(p.as_of, seen.at);
      for (auto* m : {&p.categories, &p.brands, &p.products, &p.channels, &p.stores}) scale(*m, f);
    }
    p.as_of = seen.at;
  } else {
    weight *= decay(seen.at, p.as_of);
  }

  std::int64_t value = 0, units = 0;
  for (const auto& l : seen.lines) {
    value += std::max<std::int64_t>(l.amount_minor, 0);
    units += std::max<std::int64_t>(l.quantity, 0);
  }
  for (const auto& l : seen.lines) {
    const double share =
        value > 0   ? static_cast<double>(std::max<std::int64_t>(l.amount_minor, 0)) / value
        : units > 0 ? static_cast<double>(std::max<std::int64_t>(l.quantity, 0)) / units
                    : 1.0 / static_cast<double>(seen.lines.size());
    if (share <= 0) continue;
    if (!l.category.empty()) p.categories[l.category] += weight * share;
    if (!l.brand.empty()) p.brands[l.brand] += weight * share;
    if (!l.sku.empty()) p.products[l.sku] += weight * share;
  }
  if (!seen.channel.empty()) p.channels[seen.channel] += weight;
  if (seen.store && !seen.store->empty()) p.stores[*seen.store] += weight;
  prune(p.categories, kMaxCategories);
  prune(p.brands, kMaxBrands);
  prune(p.products, kMaxProducts);
  prune(p.channels, kMaxCategories);
  prune(p.stores, kMaxCategories);

  if (seen.spend_minor) {
    if (!p.last_purchase || seen.at > *p.last_purchase) p.last_purchase = seen.at;
    p.spend[day_of(seen.at)] += *seen.spend_minor;
  }
  const auto oldest = day_of(now) - kSpendDays;
  std::erase_if(p.spend, [oldest](const auto& e) { return e.first <= oldest; });
  return p;
}

double affinity(const Profile& p, Kind kind, const std::string& key) {
  const auto& scores = scores_of(p, kind);
  double sum = 0;
  for (const auto& [k, s] : scores) sum += s;
  const auto it = scores.find(key);
  return it == scores.end() || sum <= 0 ? 0.0 : it->second / sum;
}

std::vector<std::pair<std::string, double>> top(const Profile& p, Kind kind, std::size_t n) {
  const auto& scores = scores_of(p, kind);
  double sum = 0;
  for (const auto& [k, s] : scores) sum += s;
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [k, s] : scores) out.emplace_back(k, sum > 0 ? s / sum : 0.0);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (out.size() > n) out.resize(n);
  return out;
}

std::optional<std::string> preferred_channel(const Profile& p) {
  return strongest(p.channels);
}
std::optional<std::string> preferred_store(const Profile& p) {
  return strongest(p.stores);
}

std::optional<std::int64_t> days_since_purchase(const Profile& p, TimePoint now) {
  if (!p.last_purchase) return std::nullopt;
  return std::max<std::int64_t>(
      0, std::chrono::floor<std::chrono::days>(now - *p.last_purchase).count());
}

std::int64_t spend_within(const Profile& p, int days, TimePoint now) {
  const auto today = day_of(now);
  std::int64_t sum = 0;
  for (const auto& [day, minor] : p.spend)
    if (day > today - days && day <= today) sum += minor;
  return sum;
}

}  // namespace circolo::engine::interests
