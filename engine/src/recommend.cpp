#include "circolo/engine/recommend.hpp"

#include <algorithm>
#include <set>

namespace circolo::engine::recommend {

namespace {

std::vector<Suggestion> best(std::vector<Suggestion> all, std::size_t n) {
  // Highest score first; ties by key, so the same data always gives the same list.
  std::sort(all.begin(), all.end(), [](const Suggestion& a, const Suggestion& b) {
    return a.score != b.score ? a.score > b.score : a.key < b.key;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace

void CoOccurrence::add_member(std::vector<std::string> bought) {
  std::sort(bought.begin(), bought.end());
  bought.erase(std::unique(bought.begin(), bought.end()), bought.end());
  if (bought.empty()) return;
  ++members_;
  for (const auto& a : bought) {
    ++bought_by_[a];
    auto& row = together_[a];
    for (const auto& b : bought)
      if (a != b) ++row[b];
  }
}

std::vector<Suggestion> CoOccurrence::suggest(const std::map<std::string, double>& interests,
                                              std::size_t n,
                                              const std::vector<std::string>& exclude) const {
  const std::set<std::string> excluded(exclude.begin(), exclude.end());
  std::unordered_map<std::string, Suggestion> scored;
  std::unordered_map<std::string, double> reason_weight;  // of each suggestion's `because`
  // `key` gains `score` through the member's `because`; the reason a person can read is the
  // member's key that weighs most in the suggestion's score.
  auto add = [&](const std::string& key, double score, const std::string& because) {
    if (excluded.contains(key) || score <= 0) return;
    auto& s = scored[key];
    s.key = key;
    s.score += score;
    auto& w = reason_weight[key];
    if (score > w) {
      w = score;
      s.because = because;
    }
  };
  for (const auto& [a, weight] : interests) {
    if (weight <= 0) continue;
    add(a, weight, a);  // liked already: bought again
    const auto by = bought_by_.find(a);
    const auto row = together_.find(a);
    if (by == bought_by_.end() || row == together_.end() || by->second == 0) continue;
    for (const auto& [c, count] : row->second)
      add(c, weight * static_cast<double>(count) / static_cast<double>(by->second), a);
  }
  std::vector<Suggestion> all;
  all.reserve(scored.size());
  for (auto& [key, s] : scored) all.push_back(std::move(s));
  return best(std::move(all), n);
}

std::vector<Suggestion> CoOccurrence::popular(std::size_t n) const {
  std::vector<Suggestion> all;
  all.reserve(bought_by_.size());
  for (const auto& [key, count] : bought_by_)
    all.push_back({key, static_cast<double>(count), std::nullopt});
  return best(std::move(all), n);
}

}  // namespace circolo::engine::recommend
