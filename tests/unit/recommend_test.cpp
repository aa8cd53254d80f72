#include "circolo/engine/recommend.hpp"

#include <gtest/gtest.h>

namespace circolo::engine::recommend {
namespace {

CoOccurrence shop() {
  CoOccurrence c;
  for (int i = 0; i < 8; ++i) c.add_member({"shoes", "socks"});
  for (int i = 0; i < 2; ++i) c.add_member({"shoes", "bags", "shoes"});  // repeats count once
  for (int i = 0; i < 12; ++i) c.add_member({"books"});
  c.add_member({});  // bought nothing with a category: not a member of the counts
  return c;
}

TEST(Recommend, MembersWhoBoughtTheSameBoughtThis) {
  const auto c = shop();
  EXPECT_EQ(c.members(), 22u);
  const auto s = c.suggest({{"shoes", 1.0}}, 3);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].key, "shoes");  // liked already
  EXPECT_EQ(s[1].key, "socks");  // 8 of the 10 who bought shoes
  EXPECT_DOUBLE_EQ(s[1].score, 0.8);
  EXPECT_EQ(s[1].because, "shoes");
  EXPECT_EQ(s[2].key, "bags");
  EXPECT_DOUBLE_EQ(s[2].score, 0.2);
  // Books are the most bought, but not by anyone who likes shoes.
  EXPECT_EQ(c.popular(1)[0].key, "books");
}

TEST(Recommend, WeightsExclusionsAndTheStrongestReason) {
  const auto c = shop();
  const auto s = c.suggest({{"shoes", 0.5}, {"books", 0.5}}, 5, {"books"});
  for (const auto& x : s) EXPECT_NE(x.key, "books");
  EXPECT_EQ(s[0].key, "shoes");
  EXPECT_DOUBLE_EQ(s[0].score, 0.5);
  EXPECT_TRUE(c.suggest({}, 3).empty());
  EXPECT_TRUE(c.suggest({{"unknown", 1.0}}, 3).size() == 1) << "only the key itself";
}

TEST(Recommend, TheSameDataGivesTheSameOrder) {
  CoOccurrence c;
  c.add_member({"a", "b"});
  c.add_member({"a", "c"});
  const auto s = c.suggest({{"a", 1.0}}, 3);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1].key, "b") << "a tie goes to the first by name";
  EXPECT_EQ(s[2].key, "c");
  EXPECT_EQ(c.popular(3)[1].key, "b");
}

}  // namespace
}  // namespace circolo::engine::recommend
