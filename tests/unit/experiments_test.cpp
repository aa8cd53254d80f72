// Experiment assignment (stable, shares held, merges) and the report's statistics, against
// values computed independently (Python, the same formulas written out).
#include "circolo/engine/experiments.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace circolo::engine::experiments {
namespace {

TEST(ExperimentBuckets, AreTheDocumentedFunctionOfCampaignAndMember) {
  // FNV-1a 64 of "campaign\nmember", SplitMix64 finaliser, mod 10,000 (docs/rules.md): the
  // same on every instance and build, so these values are fixed for good.
  EXPECT_EQ(bucket("double", "mem_0"), 4407);
  EXPECT_EQ(bucket("double", "mem_6"), 732);
  EXPECT_EQ(bucket("double", "mem_8"), 79);
  // Another campaign splits the same members independently.
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto id = "mem_" + std::to_string(i);
    same += bucket("double", id) / 1000 == bucket("coupon-week", id) / 1000;
  }
  EXPECT_NEAR(same, 100, 40);
}

TEST(ExperimentArms, ControlFirstThenVariantsThenTreatment) {
  const auto a = arms(1000, {{"coupon", 4000}});
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].id, "control");
  EXPECT_EQ(a[1].id, "coupon");
  EXPECT_EQ(a[2].id, "treatment");
  EXPECT_EQ(a[2].share_e2, 5000);
  EXPECT_EQ(assign(a, 0), 0u);
  EXPECT_EQ(assign(a, 999), 0u);
  EXPECT_EQ(assign(a, 1000), 1u);
  EXPECT_EQ(assign(a, 4999), 1u);
  EXPECT_EQ(assign(a, 5000), 2u);
  EXPECT_EQ(assign(a, 9999), 2u);
  // Shares adding up to 100%: no treatment arm.
  EXPECT_EQ(arms(5000, {{"b", 5000}}).size(), 2u);
}

TEST(ExperimentArms, SharesHoldWithinOnePercentOver100000Members) {
  const auto a = arms(1000, {{"coupon", 2550}, {"double", 3000}});
  // Ids as Circolo makes them ("mem_" and random symbols) and as sequences.
  for (const std::string prefix : {"mem_", "mem_01JX", "customer-"}) {
    std::map<std::size_t, int> counts;
    for (int i = 0; i < 100'000; ++i)
      ++counts[assign(a, bucket("spring-promo", prefix + std::to_string(i * 7919 + 13)))];
    for (std::size_t k = 0; k < a.size(); ++k) {
      const double share = counts[k] / 100'000.0;
      EXPECT_NEAR(share, a[k].share_e2 / 10'000.0, 0.01) << prefix << " arm " << a[k].id;
    }
  }
}

TEST(ExperimentArms, AMemberKeepsItsArmAcrossShareChangesOutsideTheMovedBuckets) {
  // Growing the control from 10% to 15% moves only the buckets 1000..1499 into control.
  const auto before = arms(1000, {});
  const auto after = arms(1500, {});
  for (int i = 0; i < 5000; ++i) {
    const auto b = bucket("c", "mem_" + std::to_string(i));
    if (b >= 1000 && b < 1500) continue;
    EXPECT_EQ(before[assign(before, b)].id, after[assign(after, b)].id);
  }
}

ArmFigures arm_of(const std::string& name, int members, int buyers, bool three_first) {
  ArmFigures a{name};
  const std::int64_t amounts[3] = {500, 1500, 2500};
  for (int i = 0; i < members; ++i) {
    MemberOutcome m;
    if (i < buyers) {
      m.purchases = (three_first && i == 0) ? 3 : 1;
      m.revenue_minor = amounts[i % 3];
    }
    a.add(m);
  }
  return a;
}

TEST(ExperimentStatistics, TheUpliftAndItsIntervalMatchKnownValues) {
  const auto control = arm_of("control", 1000, 200, true);
  const auto treatment = arm_of("treatment", 1000, 260, true);
  EXPECT_EQ(control.revenue_minor, 299000);
  EXPECT_EQ(treatment.revenue_minor, 389000);
  EXPECT_EQ(treatment.buyers, 260);
  const auto revenue = uplift(treatment, control, Metric::revenue, "the campaign");
  ASSERT_TRUE(revenue.measurable);
  EXPECT_NEAR(revenue.estimate, 0.301003344482, 1e-9);
  EXPECT_NEAR(revenue.low, 0.074910995214, 1e-9);
  EXPECT_NEAR(revenue.high, 0.574651026819, 1e-9);
  EXPECT_EQ(revenue.sentence,
            "the campaign raised revenue per member by 30.1% (95% CI 7.5% to 57.5%)");
  const auto purchases = uplift(treatment, control, Metric::purchases, "the campaign");
  EXPECT_NEAR(purchases.estimate, 0.297029702970, 1e-9);
  EXPECT_NEAR(purchases.low, 0.100750260407, 1e-9);
  EXPECT_NEAR(purchases.high, 0.528308564528, 1e-9);
  // The other way round: lowered.
  const auto lowered = uplift(control, treatment, Metric::revenue, "variant \"x\"");
  EXPECT_LT(lowered.high, 0);
  EXPECT_EQ(lowered.sentence.rfind("variant \"x\" lowered revenue per member by 23.1%", 0), 0u)
      << lowered.sentence;
}

TEST(ExperimentStatistics, AnIntervalAcrossZeroIsNoMeasurableEffect) {
  const auto control = arm_of("control", 1000, 200, false);
  const auto treatment = arm_of("treatment", 1000, 205, false);
  const auto u = uplift(treatment, control, Metric::revenue, "the campaign");
  ASSERT_TRUE(u.measurable);
  EXPECT_LT(u.low, 0);
  EXPECT_GT(u.high, 0);
  EXPECT_EQ(u.sentence.rfind("no measurable effect yet on revenue per member: ", 0), 0u);
}

TEST(ExperimentStatistics, SmallSamplesSaySo) {
  const auto control = arm_of("control", 99, 50, false);
  const auto treatment = arm_of("treatment", 1000, 500, false);
  const auto u = uplift(treatment, control, Metric::revenue, "the campaign");
  EXPECT_FALSE(u.measurable);
  EXPECT_EQ(u.sentence.rfind("too few members yet to measure revenue per member: 99 in control", 0),
            0u)
      << u.sentence;
  // Enough members but too few buyers.
  EXPECT_FALSE(uplift(arm_of("t", 500, 9, false), arm_of("control", 500, 100, false),
                      Metric::purchases, "the campaign")
                   .measurable);
}

TEST(ExperimentFigures, SumArmsAndLeaveOutMembersSeenInSeveralArms) {
  std::vector<MemberRow> rows{
      {"m1", "control", {2, 3000}, 0, 0, 0, 40, 1}, {"m2", "treatment", {1, 1000}, 20, 1, 1, 0, 0},
      {"m3", "treatment", {0, 0}, 0, 0, 0, 0, 0},   {"m4", "control", {1, 500}, 0, 0, 0, 10, 0},
      {"m4", "treatment", {1, 500}, 5, 0, 0, 0, 0}, {"m5", "gone", {1, 100}, 0, 0, 0, 0, 0},
  };
  const auto f = figures(rows, {"control", "coupon", "treatment"});
  ASSERT_EQ(f.arms.size(), 4u);
  EXPECT_EQ(f.arms[0].arm, "control");
  EXPECT_EQ(f.arms[0].members, 1);
  EXPECT_EQ(f.arms[0].purchases, 2);
  EXPECT_EQ(f.arms[0].withheld_points, 40);
  EXPECT_EQ(f.arms[0].withheld_coupons, 1);
  EXPECT_EQ(f.arms[1].arm, "coupon");
  EXPECT_EQ(f.arms[1].members, 0);
  EXPECT_EQ(f.arms[2].members, 2);
  EXPECT_EQ(f.arms[2].buyers, 1);
  EXPECT_EQ(f.arms[2].revenue_minor, 1000);
  EXPECT_EQ(f.arms[2].points, 20);
  EXPECT_EQ(f.arms[2].redemptions, 1);
  EXPECT_EQ(f.arms[3].arm, "gone");  // no longer declared: after the declared ones
  EXPECT_EQ(f.members_in_several_arms, 1);
}

// Intention to treat: every member counts in the arm it is in now, with all its rows (recorded
// in any arm) and zeros without any; rows of members no longer current are not counted.
TEST(ExperimentFigures, AssignedCountEveryMemberInItsArmOfNow) {
  const auto declared = arms(5000, {});
  const auto arm_now = [&](const std::string& id) {
    return declared[assign(declared, bucket("promo", id))].id;
  };
  // Two members in each arm, found by their bucket.
  std::map<std::string, std::vector<std::string>> ids;
  for (int i = 0; ids["control"].size() < 2 || ids["treatment"].size() < 2; ++i) {
    const auto id = "mem_" + std::to_string(i);
    auto& list = ids[arm_now(id)];
    if (list.size() < 2) list.push_back(id);
  }
  const auto& c = ids["control"];
  const auto& t = ids["treatment"];
  std::vector<MemberRow> rows{
      {c[0], "control", {2, 3000}, 0, 0, 0, 40, 1},
      {t[0], "treatment", {1, 1000}, 20, 1, 1, 0, 0},
      // t[1] absorbed a control member: its events were recorded in control.
      {t[1], "control", {1, 500}, 0, 0, 0, 5, 0},
      {t[1], "treatment", {1, 700}, 7, 0, 0, 0, 0},
      {"mem_gone", "treatment", {9, 9000}, 90, 0, 0, 0, 0},
  };
  AssignedFigures assigned("promo", declared, rows);
  for (const auto* list : {&c, &t})
    for (const auto& id : *list) assigned.add_member(id);  // c[1] has no events
  const auto f = assigned.result();
  ASSERT_EQ(f.arms.size(), 2u);
  EXPECT_EQ(f.arms[0].arm, "control");
  EXPECT_EQ(f.arms[0].members, 2);
  EXPECT_EQ(f.arms[0].exposed, 1);
  EXPECT_EQ(f.arms[0].buyers, 1);
  EXPECT_EQ(f.arms[0].purchases, 2);
  EXPECT_EQ(f.arms[0].withheld_points, 40);
  EXPECT_EQ(f.arms[1].arm, "treatment");
  EXPECT_EQ(f.arms[1].members, 2);
  EXPECT_EQ(f.arms[1].exposed, 2);
  EXPECT_EQ(f.arms[1].purchases, 3);
  EXPECT_EQ(f.arms[1].revenue_minor, 2200);
  EXPECT_EQ(f.arms[1].points, 27);
  EXPECT_EQ(f.arms[1].withheld_points, 5);  // held back from the absorbed member, in control
  EXPECT_EQ(f.members_reassigned, 1);
  // The variance sees t[1] as one member with 2 purchases: 1^2 + 2^2.
  EXPECT_DOUBLE_EQ(f.arms[1].purchase_squares, 5.0);
  // A member without events counts in the mean: 3000 over 2 members in control.
  EXPECT_DOUBLE_EQ(mean(f.arms[0], Metric::revenue), 1500.0);
}

}  // namespace
}  // namespace circolo::engine::experiments
