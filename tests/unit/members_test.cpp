#include "circolo/api/members.hpp"
#include "circolo/api/member_tokens.hpp"
#include "circolo/api/problem.hpp"

#include <gtest/gtest.h>

using namespace circolo;
using namespace circolo::api;
using namespace std::chrono;
using nlohmann::json;

namespace {

const engine::TimePoint kNow{sys_days{2026y / 11 / 22} + hours(9)};

std::vector<std::string> fields_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    std::vector<std::string> out;
    for (const auto& fe : e.errors()) out.push_back(fe.field);
    return out;
  }
  return {"<accepted>"};
}

}  // namespace

TEST(MemberJson, ParsesANewMember) {
  auto m = parse_new_member(
      {{"identifiers", {{{"type", "Card"}, {"value", "04-00 12"}}}},
       {"profile", {{"name", "Ada"}, {"email", "ADA@x.it"}, {"phone", "+39 333 1234567"}}}},
      kNow);
  ASSERT_EQ(m.identifiers.size(), 1u);
  EXPECT_EQ(m.identifiers[0], (engine::Identifier{"card", "040012"}));
  EXPECT_EQ(m.profile.email.value(), "ada@x.it");
  EXPECT_EQ(m.profile.phone.value(), "+393331234567");
  EXPECT_NO_THROW(parse_new_member(json::object(), kNow));
}

TEST(MemberJson, RefusesEveryBadField) {
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"identifiers", "card"}}, kNow);
            }),
            std::vector<std::string>{"identifiers"});
  EXPECT_EQ(fields_of([] {
              parse_new_member(
                  {{"identifiers",
                    {{{"type", "card"}, {"value", "A"}}, {{"type", "card"}, {"value", "a"}}}}},
                  kNow);
            }),
            std::vector<std::string>{"identifiers[1]"});  // the same card twice
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"profile", {{"birthday", "1990-02-30"}}}}, kNow);
            }),
            std::vector<std::string>{"profile.birthday"});
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"profile", {{"birthday", "2026-11-23"}}}}, kNow);
            }),
            std::vector<std::string>{"profile.birthday"});  // tomorrow
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"profile", {{"email", "x"}, {"name", 5}}}}, kNow);
            }),
            (std::vector<std::string>{"profile.name", "profile.email"}));
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"extra", 1}}, kNow);
            }),
            std::vector<std::string>{"extra"});
  EXPECT_EQ(fields_of([] { parse_new_member(json::array(), kNow); }), std::vector<std::string>{""});
}

TEST(MemberJson, PointsRequests) {
  EXPECT_EQ(parse_spend({{"points", 10}}).points, 10);
  EXPECT_EQ(fields_of([] { parse_spend({{"points", -1}}); }), std::vector<std::string>{"points"});
  EXPECT_EQ(fields_of([] {
              parse_spend({{"points", 10000000000000LL}});
            }),
            std::vector<std::string>{"points"});
  EXPECT_EQ(fields_of([] { parse_spend(json::object()); }), std::vector<std::string>{"points"});
  auto adjust = parse_adjust({{"points", -5}, {"reason", "goodwill"}}, kNow);
  EXPECT_EQ(adjust.points, -5);
  EXPECT_EQ(fields_of([] {
              parse_adjust(
                  {{"points", -5}, {"reason", "x"}, {"expires_at", "2027-01-01T00:00:00Z"}}, kNow);
            }),
            std::vector<std::string>{"expires_at"});
  EXPECT_EQ(fields_of([] {
              parse_adjust({{"points", 5}, {"reason", "x"}, {"expires_at", "2020-01-01T00:00:00Z"}},
                           kNow);
            }),
            std::vector<std::string>{"expires_at"});
  EXPECT_EQ(fields_of([] {
              parse_adjust({{"points", 0}}, kNow);
            }),
            (std::vector<std::string>{"points", "reason"}));
  EXPECT_EQ(parse_transfer({{"to", "mem_b"}, {"points", 3}}).to, "mem_b");
}

TEST(MemberJson, CursorsAndLimits) {
  EXPECT_EQ(parse_limit(std::nullopt), 50);
  EXPECT_EQ(parse_limit(std::string("200")), 200);
  EXPECT_THROW(parse_limit(std::string("201")), ApiError);
  EXPECT_THROW(parse_limit(std::string("1x")), ApiError);
  EXPECT_EQ(parse_ledger_cursor(std::string("42")).value(), 42);
  EXPECT_THROW(parse_ledger_cursor(std::string("-1")), ApiError);
  db::TimelineEntry e;
  e.id = 9;
  e.occurred_at = kNow;
  const auto cursor = parse_timeline_cursor(timeline_cursor(e));
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->id, 9);
  EXPECT_EQ(cursor->occurred_at, kNow);
  EXPECT_THROW(parse_timeline_cursor(std::string("9")), ApiError);
}

TEST(MemberTokens, SignedScopedAndShortLived) {
  const std::string secret = "shared-secret";
  const MemberToken t{"mem_abc", kNow + minutes(15), "key_pos"};
  const auto token = sign_member_token(t, secret);
  auto ok = verify_member_token(token, secret, kNow);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->member_id, "mem_abc");
  EXPECT_EQ(ok->issuer_key_id, "key_pos");
  EXPECT_FALSE(verify_member_token(token, secret, kNow + minutes(15))) << "expired";
  EXPECT_FALSE(verify_member_token(token, "other-secret", kNow)) << "another installation's token";
  std::string forged = token;
  forged.replace(3, 7, "mem_xyz");
  EXPECT_FALSE(verify_member_token(forged, secret, kNow)) << "member swapped";
  EXPECT_FALSE(verify_member_token("mt_", secret, kNow));
  EXPECT_FALSE(verify_member_token("mt_a.b.c.d", secret, kNow));
  EXPECT_FALSE(verify_member_token("ck_something", secret, kNow));
}
