// Recommendation quality offline: on generated purchase histories with a known structure (groups
// of members with different tastes), each member's last purchase is held out; the categories
// recommended from the rest (engine::recommend::CoOccurrence over everyone's other purchases,
// weighted by the member's own interest profile, engine::interests) are compared with the
// popularity baseline (the categories most members bought). Reported: hit rate at 3, the share
// of members whose held-out category is among the three suggested.
//
//   recommend_bench [--members N] [--categories C] [--groups G] [--taste 0.7] [--seed S]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "circolo/engine/interests.hpp"
#include "circolo/engine/recommend.hpp"

namespace interests = circolo::engine::interests;
namespace recommend = circolo::engine::recommend;
using circolo::engine::TimePoint;

namespace {

struct Options {
  int members = 20'000;
  int categories = 60;
  int groups = 6;
  double taste = 0.7;  // the share of a member's purchases from its group's categories
  std::uint64_t seed = 42;
};

struct Purchase {
  TimePoint at;
  int category;
};

struct Result {
  double co_occurrence = 0, popularity = 0, own_history = 0;
  // Discovery, as offers recommend: members whose held-out category is new to them, with the
  // categories they bought before left out of both lists.
  double new_share = 0, discovery = 0, discovery_popularity = 0;
};

Result run(const Options& o) {
  std::mt19937_64 rng(o.seed);
  // Overall popularity: Zipf-like, so the baseline has something to go on.
  std::vector<double> weights(static_cast<std::size_t>(o.categories));
  for (int c = 0; c < o.categories; ++c) weights[static_cast<std::size_t>(c)] = 1.0 / (c + 1.0);
  std::discrete_distribution<int> popular(weights.begin(), weights.end());
  // Each group likes 6 categories (its taste), drawn among all of them.
  std::vector<std::vector<int>> taste(static_cast<std::size_t>(o.groups));
  std::uniform_int_distribution<int> any_category(0, o.categories - 1);
  for (auto& t : taste)
    while (t.size() < 6) {
      const int c = any_category(rng);
      if (std::find(t.begin(), t.end(), c) == t.end()) t.push_back(c);
    }
  std::uniform_int_distribution<int> group_of(0, o.groups - 1), purchases_of(3, 14);
  std::uniform_real_distribution<double> unit(0, 1);
  const TimePoint now = TimePoint{} + std::chrono::days(20'000);

  std::vector<std::vector<Purchase>> histories(static_cast<std::size_t>(o.members));
  for (auto& h : histories) {
    const auto& likes = taste[static_cast<std::size_t>(group_of(rng))];
    // A member's own favourites within its group's taste: people buy again what they like.
    std::vector<double> fav(likes.size());
    for (auto& f : fav) f = unit(rng) + 0.1;
    std::discrete_distribution<std::size_t> favourite(fav.begin(), fav.end());
    const int n = purchases_of(rng);
    for (int i = 0; i < n; ++i) {
      const int c = unit(rng) < o.taste ? likes[favourite(rng)] : popular(rng);
      h.push_back({now - std::chrono::days(3 * (n - i)), c});
    }
  }
  const auto name = [](int c) { return "cat-" + std::to_string(c); };

  // Trained on everything but each member's last purchase.
  recommend::CoOccurrence model;
  for (const auto& h : histories) {
    std::vector<std::string> bought;
    for (std::size_t i = 0; i + 1 < h.size(); ++i) bought.push_back(name(h[i].category));
    model.add_member(std::move(bought));
  }
  const auto baseline = model.popular(3);
  long hits = 0, baseline_hits = 0, own_hits = 0, fresh = 0, fresh_hits = 0,
       fresh_baseline_hits = 0;
  for (const auto& h : histories) {
    interests::Profile p;
    for (std::size_t i = 0; i + 1 < h.size(); ++i)
      p = interests::observe(
          p, {h[i].at, "store", std::nullopt, {{name(h[i].category), "", "", 1, 1000}}, 1.0, 1000},
          now);
    std::map<std::string, double> likes;
    for (const auto& [key, share] : interests::top(p, interests::Kind::category, 20))
      likes[key] = share;
    const auto held_out = name(h.back().category);
    const auto hit = [&](const std::vector<recommend::Suggestion>& s) {
      for (const auto& x : s)
        if (x.key == held_out) return true;
      return false;
    };
    hits += hit(model.suggest(likes, 3));
    baseline_hits += hit(baseline);
    // The member's own top three, without anyone else's purchases: what co-occurrence adds.
    std::vector<recommend::Suggestion> own;
    for (const auto& [key, share] : interests::top(p, interests::Kind::category, 3))
      own.push_back({key, share, std::nullopt});
    own_hits += hit(own);
    // Discovery: what the offers show (engine::offers leaves out the categories a member buys).
    std::vector<std::string> known;
    for (std::size_t i = 0; i + 1 < h.size(); ++i) known.push_back(name(h[i].category));
    std::sort(known.begin(), known.end());
    known.erase(std::unique(known.begin(), known.end()), known.end());
    if (std::binary_search(known.begin(), known.end(), held_out)) continue;
    ++fresh;
    fresh_hits += hit(model.suggest(likes, 3, known));
    std::vector<recommend::Suggestion> popular_new;
    for (const auto& s : model.popular(3 + known.size())) {
      if (!std::binary_search(known.begin(), known.end(), s.key) && popular_new.size() < 3)
        popular_new.push_back(s);
    }
    fresh_baseline_hits += hit(popular_new);
  }
  const double n = o.members;
  const double f = std::max<long>(fresh, 1);
  return {hits / n,  baseline_hits / n, own_hits / n,
          fresh / n, fresh_hits / f,    fresh_baseline_hits / f};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--members"))
      o.members = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--categories"))
      o.categories = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--groups"))
      o.groups = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--taste"))
      o.taste = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed"))
      o.seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr,
                   "usage: recommend_bench [--members N] [--categories C] [--groups G] "
                   "[--taste 0.7] [--seed S]\n");
      return 2;
    }
  }
  std::printf("members %d, categories %d, groups %d, taste %.2f, seed %llu\n", o.members,
              o.categories, o.groups, o.taste, static_cast<unsigned long long>(o.seed));
  std::printf(
      "| taste | co-occurrence hit@3 | popularity hit@3 | own top 3 hit@3 | held-out new to the "
      "member | discovery: co-occurrence | discovery: popularity |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const double taste : {o.taste, 0.5, 0.3}) {
    Options x = o;
    x.taste = taste;
    const auto r = run(x);
    std::printf("| %.2f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% |\n", taste,
                100 * r.co_occurrence, 100 * r.popularity, 100 * r.own_history, 100 * r.new_share,
                100 * r.discovery, 100 * r.discovery_popularity);
  }
  return 0;
}
