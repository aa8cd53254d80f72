#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Experiments: which arm of a campaign's experiment a member is in, and what the arms' figures
// say about the campaign's effect. Pure: the assignment is a function of the campaign's and the
// member's ids, the same on every instance, restart and program version.
namespace circolo::engine::experiments {

// Members are split into 10,000 buckets (a share is in hundredths of a percent).
inline constexpr std::int64_t kBuckets = 10'000;

// The member's bucket for the campaign, in [0, kBuckets): FNV-1a (64 bit) of
// "<campaign>\n<member id>", mixed by SplitMix64's finaliser, modulo kBuckets.
std::int64_t bucket(std::string_view campaign, std::string_view member_id);

struct Arm {
  std::string id;  // "control", a variant's id, or "treatment" (the campaign's own actions)
  std::int64_t share_e2 = 0;  // hundredths of a percent
};

// The arms in assignment order: control first (buckets from 0), the variants as declared, then
// "treatment" with what is left (none when the shares add up to 100%).
std::vector<Arm> arms(std::int64_t control_e2, const std::vector<Arm>& variants);

// The index into `arms` of the arm that holds `bucket`.
std::size_t assign(const std::vector<Arm>& arms, std::int64_t bucket);

// ---- the report's statistics ----

// One member's outcome over the experiment: purchases and net revenue (minor units).
struct MemberOutcome {
  std::int64_t purchases = 0, revenue_minor = 0;
};

struct ArmFigures {
  std::string arm;
  std::int64_t members = 0, buyers = 0, purchases = 0, revenue_minor = 0;
  // Members with at least one event in scope of the campaign (the others count with zeros).
  std::int64_t exposed = 0;
  // What the campaign gave the arm's members (for control: what it held back).
  std::int64_t points = 0, coupons = 0, redemptions = 0;
  std::int64_t withheld_points = 0, withheld_coupons = 0;
  // Sums of squares of the per-member values, for the variances.
  double revenue_squares = 0, purchase_squares = 0;

  void add(const MemberOutcome& m, bool in_scope = true);
};

// A relative difference of a per-member mean against control: 0.041 is +4.1%.
struct Uplift {
  bool measurable = false;                 // enough members in both arms to say anything
  double estimate = 0, low = 0, high = 0;  // 95% confidence interval [low, high]
  std::string sentence;                    // for people
};

enum class Metric { revenue, purchases };

// Members (and buyers) each arm needs before an interval means anything.
inline constexpr std::int64_t kMinimumMembers = 100;
inline constexpr std::int64_t kMinimumBuyers = 10;

// The uplift of `arm` over `control` in revenue or purchases per member: the ratio of the means,
// its 95% interval by the delta method on the log ratio (normal approximation, each arm's
// sample variance). `who` starts the sentence ("the campaign", "variant \"coupon\"").
Uplift uplift(const ArmFigures& arm, const ArmFigures& control, Metric metric,
              const std::string& who);

// One member's recorded events in one arm of an experiment (db/ sums them per member and arm).
struct MemberRow {
  std::string member_id, arm;
  MemberOutcome outcome;
  std::int64_t points = 0, coupons = 0, redemptions = 0;
  std::int64_t withheld_points = 0, withheld_coupons = 0;
};

struct Figures {
  std::vector<ArmFigures> arms;  // `declared` first (in order, even when empty), then others
  // figures(): members recorded in more than one arm (the shares changed while it ran): left out
  // of every arm, as their outcome belongs to no one arm.
  std::int64_t members_in_several_arms = 0;
  // Assigned: members with events recorded in an arm other than the one they are in now (a merge
  // brought another member's events, or the shares changed): counted in their arm of now.
  std::int64_t members_reassigned = 0;
};

// The arms' figures from the members' rows, as recorded: only members with events in scope.
// For an experiment the program no longer declares (its arms cannot be computed any more).
Figures figures(const std::vector<MemberRow>& rows, const std::vector<std::string>& declared);

// The arms' figures as assigned (intention to treat): every current member counts, in the arm
// the campaign assigns it now, with all its rows and zeros when it has none. Who counts then
// does not depend on what the campaign caused (a campaign that brings members back would
// otherwise add them to its arm only). Feed every current member once with add_member().
class AssignedFigures {
 public:
  AssignedFigures(std::string campaign, std::vector<Arm> arms, const std::vector<MemberRow>& rows);
  void add_member(std::string_view member_id);
  Figures result() const { return out_; }

 private:
  std::string campaign_;
  std::vector<Arm> arms_;
  const std::vector<MemberRow>& rows_;
  std::map<std::string, std::vector<std::size_t>, std::less<>> rows_of_;  // member -> rows
  Figures out_;
};

// Sample means and variances of the per-member values (0 with fewer than 2 members).
double mean(const ArmFigures& a, Metric metric);
double variance(const ArmFigures& a, Metric metric);

}  // namespace circolo::engine::experiments
