// Experiment assignment and the statistics of its report.
#include "circolo/engine/experiments.hpp"

#include <cmath>
#include <cstdio>
#include <map>

namespace circolo::engine::experiments {

std::int64_t bucket(std::string_view campaign, std::string_view member_id) {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a offset basis
  const auto mix_in = [&](std::string_view s) {
    for (const unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;  // FNV prime
    }
  };
  mix_in(campaign);
  mix_in("\n");
  mix_in(member_id);
  // SplitMix64's finaliser: FNV's low bits alone are poorly spread for ids that differ at the end.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(kBuckets));
}

std::vector<Arm> arms(std::int64_t control_e2, const std::vector<Arm>& variants) {
  std::vector<Arm> out;
  out.push_back({"control", control_e2});
  std::int64_t used = control_e2;
  for (const auto& v : variants) {
    out.push_back(v);
    used += v.share_e2;
  }
  if (used < kBuckets) out.push_back({"treatment", kBuckets - used});
  return out;
}

std::size_t assign(const std::vector<Arm>& arms, std::int64_t bucket) {
  std::int64_t end = 0;
  for (std::size_t i = 0; i < arms.size(); ++i) {
    end += arms[i].share_e2;
    if (bucket < end) return i;
  }
  return arms.empty() ? 0 : arms.size() - 1;
}

void ArmFigures::add(const MemberOutcome& m, bool in_scope) {
  ++members;
  if (in_scope) ++exposed;
  if (m.purchases > 0) ++buyers;
  purchases += m.purchases;
  revenue_minor += m.revenue_minor;
  const auto r = static_cast<double>(m.revenue_minor);
  const auto p = static_cast<double>(m.purchases);
  revenue_squares += r * r;
  purchase_squares += p * p;
}

Figures figures(const std::vector<MemberRow>& rows, const std::vector<std::string>& declared) {
  Figures out;
  std::map<std::string, std::size_t> index;  // arm -> position in out.arms
  for (const auto& arm : declared) {
    index.emplace(arm, out.arms.size());
    out.arms.push_back(ArmFigures{arm});
  }
  std::map<std::string_view, int> arms_of;  // member -> rows
  for (const auto& r : rows) ++arms_of[r.member_id];
  for (const auto& r : rows) {
    if (arms_of[r.member_id] > 1) continue;
    auto it = index.find(r.arm);
    if (it == index.end()) {
      it = index.emplace(r.arm, out.arms.size()).first;
      out.arms.push_back(ArmFigures{r.arm});
    }
    auto& a = out.arms[it->second];
    a.add(r.outcome);
    a.points += r.points;
    a.coupons += r.coupons;
    a.redemptions += r.redemptions;
    a.withheld_points += r.withheld_points;
    a.withheld_coupons += r.withheld_coupons;
  }
  for (const auto& [member, n] : arms_of) {
    if (n > 1) ++out.members_in_several_arms;
  }
  return out;
}

AssignedFigures::AssignedFigures(std::string campaign, std::vector<Arm> arms,
                                 const std::vector<MemberRow>& rows)
    : campaign_(std::move(campaign)), arms_(std::move(arms)), rows_(rows) {
  for (std::size_t i = 0; i < rows_.size(); ++i) rows_of_[rows_[i].member_id].push_back(i);
  for (const auto& a : arms_) out_.arms.push_back(ArmFigures{a.id});
}

void AssignedFigures::add_member(std::string_view member_id) {
  if (arms_.empty()) return;
  auto& a = out_.arms[assign(arms_, bucket(campaign_, member_id))];
  const auto it = rows_of_.find(member_id);
  if (it == rows_of_.end()) {
    a.add({}, false);
    return;
  }
  MemberOutcome outcome;
  bool elsewhere = false;
  for (const auto i : it->second) {
    const auto& r = rows_[i];
    outcome.purchases += r.outcome.purchases;
    outcome.revenue_minor += r.outcome.revenue_minor;
    a.points += r.points;
    a.coupons += r.coupons;
    a.redemptions += r.redemptions;
    a.withheld_points += r.withheld_points;
    a.withheld_coupons += r.withheld_coupons;
    elsewhere = elsewhere || r.arm != a.arm;
  }
  a.add(outcome);
  if (elsewhere) ++out_.members_reassigned;
}

double mean(const ArmFigures& a, Metric metric) {
  if (a.members == 0) return 0;
  const auto total = metric == Metric::revenue ? a.revenue_minor : a.purchases;
  return static_cast<double>(total) / static_cast<double>(a.members);
}

double variance(const ArmFigures& a, Metric metric) {
  if (a.members < 2) return 0;
  const auto n = static_cast<double>(a.members);
  const double m = mean(a, metric);
  const double squares = metric == Metric::revenue ? a.revenue_squares : a.purchase_squares;
  return std::max(0.0, (squares - n * m * m) / (n - 1));
}

namespace {

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", x * 100);
  return buf;
}

}  // namespace

Uplift uplift(const ArmFigures& arm, const ArmFigures& control, Metric metric,
              const std::string& who) {
  Uplift out;
  const char* what = metric == Metric::revenue ? "revenue per member" : "purchases per member";
  if (arm.members < kMinimumMembers || control.members < kMinimumMembers ||
      arm.buyers < kMinimumBuyers || control.buyers < kMinimumBuyers) {
    out.sentence = "too few members yet to measure " + std::string(what) + ": " +
                   std::to_string(control.members) + " in control (" +
                   std::to_string(control.buyers) + " bought) and " + std::to_string(arm.members) +
                   " in " + arm.arm + " (" + std::to_string(arm.buyers) +
                   " bought); each needs at least " + std::to_string(kMinimumMembers) +
                   " members of whom " + std::to_string(kMinimumBuyers) + " bought";
    return out;
  }
  const double mt = mean(arm, metric), mc = mean(control, metric);
  if (!(mt > 0) || !(mc > 0)) {
    out.sentence = "no measurable effect yet on " + std::string(what) + ": an arm has none";
    return out;
  }
  const double ratio = mt / mc;
  // Delta method: Var(ln mean) ~ Var(x) / (n mean^2), the arms independent.
  const double se =
      std::sqrt(variance(arm, metric) / (static_cast<double>(arm.members) * mt * mt) +
                variance(control, metric) / (static_cast<double>(control.members) * mc * mc));
  constexpr double kZ95 = 1.959963984540054;
  out.measurable = true;
  out.estimate = ratio - 1;
  out.low = std::exp(std::log(ratio) - kZ95 * se) - 1;
  out.high = std::exp(std::log(ratio) + kZ95 * se) - 1;
  const std::string interval = "(95% CI " + percent(out.low) + " to " + percent(out.high) + ")";
  if (out.low > 0)
    out.sentence = who + " raised " + what + " by " + percent(out.estimate) + " " + interval;
  else if (out.high < 0)
    out.sentence = who + " lowered " + what + " by " + percent(-out.estimate) + " " + interval;
  else
    out.sentence = "no measurable effect yet on " + std::string(what) + ": " +
                   percent(out.estimate) + " " + interval;
  return out;
}

}  // namespace circolo::engine::experiments
