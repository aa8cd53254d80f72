#include "circolo/engine/tiers.hpp"
#include "circolo/engine/leaderboard.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace circolo::engine::tiers;

namespace {
const std::vector<Level> kLevels{{"member", 0}, {"silver", 1000}, {"gold", 5000}};
}

TEST(Tiers, HighestThresholdReached) {
  auto s = standing(kLevels, std::vector<Points>{0, 0, 0});
  ASSERT_TRUE(s.tier);
  EXPECT_EQ(*s.tier, 0u);
  EXPECT_EQ(s.next, 1u);
  EXPECT_EQ(s.needed, 1000);

  s = standing(kLevels, std::vector<Points>{999, 999, 999});
  EXPECT_EQ(*s.tier, 0u);
  EXPECT_EQ(s.needed, 1);

  s = standing(kLevels, std::vector<Points>{1000, 1000, 1000});
  EXPECT_EQ(*s.tier, 1u);
  EXPECT_EQ(s.next, 2u);
  EXPECT_EQ(s.points, 1000);
  EXPECT_EQ(s.needed, 4000);

  s = standing(kLevels, std::vector<Points>{7000, 7000, 7000});
  EXPECT_EQ(*s.tier, 2u);
  EXPECT_FALSE(s.next);
}

TEST(Tiers, EachTierCountsItsOwnWindow) {
  // Gold counts two years and is reached; silver's shorter window alone would not be.
  auto s = standing(kLevels, std::vector<Points>{300, 300, 6000});
  EXPECT_EQ(*s.tier, 2u);
}

TEST(Tiers, AWindowLeftNegativeByRefundsKeepsTheEntryTier) {
  auto s = standing(kLevels, std::vector<Points>{-50, -50, -50});
  ASSERT_TRUE(s.tier);
  EXPECT_EQ(*s.tier, 0u);
  EXPECT_EQ(s.needed, 1000);
}

TEST(Tiers, BelowTheLowestThresholdThereIsNoTier) {
  const std::vector<Level> levels{{"silver", 100}};
  auto s = standing(levels, std::vector<Points>{-20});  // refunds may leave a window negative
  EXPECT_FALSE(s.tier);
  EXPECT_EQ(s.next, 0u);
  EXPECT_EQ(s.points, 0);
  EXPECT_EQ(s.needed, 100);
  EXPECT_THROW(standing(levels, std::vector<Points>{}), std::invalid_argument);
}

TEST(Leaderboard, TiesShareARankAndTheNextSkips) {
  const std::vector<long long> board = {900, 700, 700, 500, 0};
  EXPECT_EQ(circolo::engine::leaderboard::rank_of(board, 900), 1);
  EXPECT_EQ(circolo::engine::leaderboard::rank_of(board, 700), 2);
  EXPECT_EQ(circolo::engine::leaderboard::rank_of(board, 500), 4);
  EXPECT_EQ(circolo::engine::leaderboard::rank_of(board, 600), 4) << "between scores";
  EXPECT_EQ(circolo::engine::leaderboard::rank_of(board, 1000), 1) << "above everyone";
  EXPECT_EQ(circolo::engine::leaderboard::rank_of({}, 5), 1);
}

TEST(Leaderboard, TheTopShowsListedMembersRankedAmongThemselves) {
  using circolo::engine::leaderboard::Leader;
  using circolo::engine::leaderboard::top_shown;
  const std::vector<Leader> leaders = {{"a", 900}, {"shy", 800}, {"b", 700},
                                       {"c", 700}, {"d", 500},   {"e", 400}};
  const auto listed = [](const std::string& id) { return id != "shy"; };
  const auto top = top_shown(leaders, false, 4, listed);
  ASSERT_TRUE(top);
  ASSERT_EQ(top->size(), 4u);
  EXPECT_EQ((*top)[0].member_id, "a");
  EXPECT_EQ((*top)[0].rank, 1);
  EXPECT_EQ((*top)[1].member_id, "b");
  EXPECT_EQ((*top)[1].rank, 2) << "the opted-out member leaves no gap";
  EXPECT_EQ((*top)[2].rank, 2) << "ties share a rank";
  EXPECT_EQ((*top)[3].member_id, "d");
  EXPECT_EQ((*top)[3].rank, 4) << "and the next rank skips";
  // Leaders that may not be the whole board and run out: the caller reads the board itself.
  EXPECT_FALSE(top_shown(leaders, false, 6, listed));
  // The whole board: fewer entries than asked for is the answer.
  const auto all = top_shown(leaders, true, 10, listed);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 5u);
  EXPECT_TRUE(top_shown({}, true, 10, listed)->empty());
}
