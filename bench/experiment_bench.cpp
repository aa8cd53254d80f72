// Experiments on generated data with a known true effect: does the report's 95% interval cover
// it? Members (ids as Circolo makes them) are split by the real assignment
// (engine::experiments::bucket/assign); each buys a Poisson number of times at a rate drawn per
// member (gamma: some buy often, most rarely) with log-normal baskets; the treatment multiplies
// the rate by 1 + effect. The figures and intervals are the ones the report computes
// (engine::experiments::AssignedFigures and uplift). Repeated over many seeds: the share of
// intervals covering the true effect should be about 95%, the share detecting it is the power, and
// with no effect at all about 5% of intervals should exclude zero.
//
//   experiment_bench [--members N] [--runs R] [--effect 0.05] [--control-share 10]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "circolo/engine/experiments.hpp"

namespace experiments = circolo::engine::experiments;

namespace {

struct Options {
  int members = 200'000;
  int runs = 200;
  double effect = 0.05;
  int control_percent = 10;
};

struct Run {
  experiments::Uplift revenue, purchases;
  std::vector<experiments::ArmFigures> arms;
};

Run one(const Options& o, double effect, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> rate(0.8, 2.5);        // purchases per member: mean 2, skewed
  std::lognormal_distribution<double> basket(3.4, 0.6);  // median ~30 EUR, mean ~36
  const auto arms = experiments::arms(o.control_percent * 100, {});
  std::vector<experiments::MemberRow> rows;
  std::vector<std::string> ids;
  ids.reserve(static_cast<std::size_t>(o.members));
  char id[40];
  for (int i = 0; i < o.members; ++i) {
    // "mem_" and 26 symbols of the seed and index, as random-looking as Circolo's ids.
    std::snprintf(id, sizeof id, "mem_%016llx%010d", static_cast<unsigned long long>(rng()), i);
    ids.emplace_back(id);
    const auto arm = arms[experiments::assign(arms, experiments::bucket("spring-promo", id))].id;
    const double lambda = rate(rng) * (arm == "treatment" ? 1 + effect : 1.0);
    std::poisson_distribution<int> purchases(lambda);
    experiments::MemberRow r;
    r.member_id = id;
    r.arm = arm;
    r.outcome.purchases = purchases(rng);
    for (int k = 0; k < r.outcome.purchases; ++k)
      r.outcome.revenue_minor += static_cast<std::int64_t>(std::llround(basket(rng) * 100));
    // Only members with events have rows, as in the database; the others count with zeros.
    if (r.outcome.purchases > 0) rows.push_back(std::move(r));
  }
  // The report's own path: every member in its arm of now, its rows summed.
  experiments::AssignedFigures assigned("spring-promo", arms, rows);
  for (const auto& m : ids) assigned.add_member(m);
  const auto figures = assigned.result();
  Run out;
  out.arms = figures.arms;
  out.revenue = experiments::uplift(figures.arms[1], figures.arms[0], experiments::Metric::revenue,
                                    "the campaign");
  out.purchases = experiments::uplift(figures.arms[1], figures.arms[0],
                                      experiments::Metric::purchases, "the campaign");
  return out;
}

struct Tally {
  int covered = 0, detected = 0, measurable = 0;
  double sum_estimate = 0, sum_width = 0;
  void add(const experiments::Uplift& u, double truth) {
    if (!u.measurable) return;
    ++measurable;
    covered += u.low <= truth && truth <= u.high;
    detected += u.low > 0 || u.high < 0;
    sum_estimate += u.estimate;
    sum_width += u.high - u.low;
  }
  void print(const char* what, double truth) const {
    std::printf(
        "  %-22s covered %5.1f%%  excluded 0: %5.1f%%  mean estimate %+6.2f%% (true %+.2f%%)"
        "  mean CI width %.2f points\n",
        what, 100.0 * covered / measurable, 100.0 * detected / measurable,
        100 * sum_estimate / measurable, 100 * truth, 100 * sum_width / measurable);
  }
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--members"))
      o.members = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--runs"))
      o.runs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--effect"))
      o.effect = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--control-share"))
      o.control_percent = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--members N] [--runs R] [--effect X] [--control-share P]\n",
                   argv[0]);
      return 2;
    }
  }
  std::printf("%d members, control %d%%, %d runs per case\n\n", o.members, o.control_percent,
              o.runs);
  const auto first = one(o, o.effect, 1);
  std::printf("Run 1 with a true effect of %+.1f%% on the purchase rate:\n", 100 * o.effect);
  for (const auto& a : first.arms)
    std::printf("  %-10s members %7lld  buyers %7lld  purchases %8lld  revenue %12.2f\n",
                a.arm.c_str(), static_cast<long long>(a.members), static_cast<long long>(a.buyers),
                static_cast<long long>(a.purchases), static_cast<double>(a.revenue_minor) / 100);
  std::printf("  %s\n  %s\n", first.revenue.sentence.c_str(), first.purchases.sentence.c_str());
  const bool first_covers =
      first.revenue.measurable && first.revenue.low <= o.effect && o.effect <= first.revenue.high;
  std::printf("  the revenue interval %s the true effect\n\n",
              first_covers ? "covers" : "DOES NOT cover");

  for (const double truth : {o.effect, 0.0}) {
    Tally revenue, purchases;
    for (int r = 0; r < o.runs; ++r) {
      const auto run = one(o, truth, 1000 + static_cast<std::uint64_t>(r));
      revenue.add(run.revenue, truth);
      purchases.add(run.purchases, truth);
    }
    std::printf("True effect %+.1f%%, %d runs:\n", 100 * truth, o.runs);
    revenue.print("revenue per member", truth);
    purchases.print("purchases per member", truth);
  }
  return first_covers ? 0 : 1;
}
