#include "circolo/engine/consent.hpp"

#include <gtest/gtest.h>

namespace circolo::engine::consent {
namespace {

TEST(Consent, MarketingAndProfilingWaitForAYesLeaderboardsForANo) {
  const Consents none;
  EXPECT_FALSE(none.granted(Purpose::marketing_email));
  EXPECT_FALSE(none.granted(Purpose::marketing_sms));
  EXPECT_FALSE(none.granted(Purpose::marketing_push));
  EXPECT_FALSE(none.granted(Purpose::profiling));
  EXPECT_TRUE(none.granted(Purpose::leaderboards));
  EXPECT_TRUE(notification_channels(none).empty());
}

TEST(Consent, AnExplicitChoiceWinsOverTheDefault) {
  Consents c;
  c.given = {{"marketing_sms", true}, {"leaderboards", false}, {"marketing_email", false}};
  EXPECT_TRUE(c.granted(Purpose::marketing_sms));
  EXPECT_FALSE(c.granted(Purpose::leaderboards));
  EXPECT_FALSE(c.granted(Purpose::marketing_email));
  EXPECT_EQ(notification_channels(c), std::vector<std::string>{"sms"});
}

TEST(Consent, AChangeIsWhatDiffersFromTheMembersOwnWord) {
  Consents c;
  c.given = {{"marketing_sms", true}};
  const auto changed = changes(c, {{"marketing_sms", true},     // said already
                                   {"marketing_email", false},  // only the default said so
                                   {"leaderboards", false}});
  EXPECT_EQ(changed,
            (std::map<std::string, bool>{{"leaderboards", false}, {"marketing_email", false}}));
}

TEST(Consent, PurposesParseByTheirNamesOnly) {
  for (const auto p : kPurposes) EXPECT_EQ(parse(name(p)), p);
  EXPECT_FALSE(parse("marketing"));
  EXPECT_FALSE(parse("Marketing_Email"));
  EXPECT_FALSE(parse(""));
}

}  // namespace
}  // namespace circolo::engine::consent
