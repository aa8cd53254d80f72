#include "circolo/api/members.hpp"
#include "circolo/api/member_tokens.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/engine/digest.hpp"

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

// A new member's body with the identifier every enrolment needs.
json enrolling(json body) {
  body["identifiers"] = json::array({{{"type", "card"}, {"value", "4000"}}});
  return body;
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
  // A member nobody could find again: at least one identifier.
  EXPECT_EQ(fields_of([] { parse_new_member(json::object(), kNow); }),
            std::vector<std::string>{"identifiers"});
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"identifiers", json::array()}}, kNow);
            }),
            std::vector<std::string>{"identifiers"});
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"profile", {{"name", "Ada"}}}}, kNow);
            }),
            std::vector<std::string>{"identifiers"});
}

TEST(MemberJson, RefusesEveryBadField) {
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"identifiers", "card"}}, kNow);
            }),
            std::vector<std::string>{"identifiers"});
  EXPECT_EQ(fields_of([] {
              parse_new_member({{"identifiers",
                                 {{{"type", "card"}, {"value", "4000 1234"}},
                                  {{"type", "card"}, {"value", "4000-1234"}}}}},
                               kNow);
            }),
            std::vector<std::string>{"identifiers[1]"});  // the same card twice
  EXPECT_EQ(fields_of([] {
              parse_new_member(enrolling({{"profile", {{"birthday", "1990-02-30"}}}}), kNow);
            }),
            std::vector<std::string>{"profile.birthday"});
  EXPECT_EQ(fields_of([] {
              parse_new_member(enrolling({{"profile", {{"birthday", "2026-11-23"}}}}), kNow);
            }),
            std::vector<std::string>{"profile.birthday"});  // tomorrow
  EXPECT_EQ(fields_of([] {
              parse_new_member(enrolling({{"profile", {{"email", "x"}, {"name", 5}}}}), kNow);
            }),
            (std::vector<std::string>{"profile.name", "profile.email"}));
  EXPECT_EQ(fields_of([] {
              parse_new_member(enrolling({{"extra", 1}}), kNow);
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

// The member's token generation is part of what is signed: revoking moves it on, and a token
// cannot be edited to carry the new one.
TEST(MemberTokens, CarryTheGenerationTheyWereMintedIn) {
  const std::string secret = "shared-secret";
  const auto token = sign_member_token({"mem_abc", kNow + minutes(15), "key_pos", 7}, secret);
  EXPECT_EQ(token.substr(0, token.rfind('.')),
            "mt_mem_abc." +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                   (kNow + minutes(15)).time_since_epoch())
                                   .count()) +
                ".key_pos.7");
  const auto read = verify_member_token(token, secret, kNow);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->generation, 7);
  std::string edited = token;
  edited.replace(edited.find(".7."), 3, ".8.");
  EXPECT_FALSE(verify_member_token(edited, secret, kNow));
  // A token of the earlier format (no generation) is not read, whoever signed it.
  const std::string old_body = "mt_mem_abc.99999999999.key_pos";
  EXPECT_FALSE(verify_member_token(
      old_body + "." + circolo::engine::hmac_sha256_hex(secret, old_body), secret, kNow));
}

TEST(ProfilePatch, MergesLikeRfc7396) {
  db::Profile p;
  p.name = "Ada";
  p.email = "ada@example.com";
  p.birthday = "1990-04-01";
  p.attributes = {{"store", "milano-01"}, {"size", 42}};
  const auto patch =
      parse_profile_patch({{"display_name", "Ada L."},
                           {"email", nullptr},
                           {"phone", "+39 (333) 123-4567"},
                           {"attributes", {{"size", nullptr}, {"newsletter", true}}}},
                          kNow);
  const auto changed = apply_profile_patch(p, patch);
  EXPECT_EQ(changed, (std::vector<std::string>{"display_name", "email", "phone", "attributes"}));
  EXPECT_EQ(p.name.value(), "Ada") << "a field left out is kept";
  EXPECT_EQ(p.display_name.value(), "Ada L.");
  EXPECT_FALSE(p.email) << "null clears it";
  EXPECT_EQ(p.phone.value(), "+393331234567");
  EXPECT_EQ(p.birthday.value(), "1990-04-01");
  EXPECT_EQ(p.attributes, (json{{"store", "milano-01"}, {"newsletter", true}}))
      << "attributes merge name by name; null removes one";

  // The same patch again changes nothing.
  EXPECT_TRUE(apply_profile_patch(p, patch).empty());
  EXPECT_TRUE(apply_profile_patch(p, parse_profile_patch(json::object(), kNow)).empty());
  EXPECT_EQ(apply_profile_patch(p, parse_profile_patch({{"attributes", nullptr}}, kNow)),
            std::vector<std::string>{"attributes"});
  EXPECT_EQ(p.attributes, json::object()) << "\"attributes\": null removes them all";
}

TEST(ProfilePatch, RefusesEveryBadFieldAtOnce) {
  const json bad{{"name", ""},
                 {"display_name", std::string(65, 'x')},
                 {"email", "ada@localhost"},
                 {"phone", "12345"},
                 {"birthday", "1899-12-31"},
                 {"attributes", {{"nested", {{"a", 1}}}, {"ok", 1}}},
                 {"tier", "gold"}};
  EXPECT_EQ(fields_of([&] { parse_profile_patch(bad, kNow); }),
            (std::vector<std::string>{"tier", "name", "display_name", "email", "phone", "birthday",
                                      "attributes.nested"}));
  auto one = [](const json& body) { return fields_of([&] { parse_profile_patch(body, kNow); }); };
  const std::vector<std::string> accepted{"<accepted>"};
  EXPECT_EQ(one({{"birthday", "2026-11-23"}}), std::vector<std::string>{"birthday"});  // tomorrow
  EXPECT_EQ(one({{"birthday", "2026-02-30"}}), std::vector<std::string>{"birthday"});
  EXPECT_EQ(one({{"birthday", "1900-01-01"}}), accepted);
  EXPECT_EQ(one({{"birthday", "2026-11-22"}}), accepted);  // today
  EXPECT_EQ(one({{"email", "a b@example.com"}}), std::vector<std::string>{"email"});
  EXPECT_EQ(one({{"email", "ada@example..com"}}), std::vector<std::string>{"email"});
  EXPECT_EQ(one({{"email", "ada@-example.com"}}), std::vector<std::string>{"email"});
  EXPECT_EQ(one({{"email", ".ada@example.com"}}), std::vector<std::string>{"email"});
  EXPECT_EQ(one({{"email", "ada@example.c0m"}}), std::vector<std::string>{"email"});
  EXPECT_EQ(one({{"email", "Ada.Lovelace+news@Example.co.uk"}}), accepted);
  EXPECT_EQ(one({{"phone", "123456"}}), accepted);
  EXPECT_EQ(one({{"phone", "+" + std::string(21, '1')}}), std::vector<std::string>{"phone"});
  EXPECT_EQ(one({{"phone", "12+3456789"}}), std::vector<std::string>{"phone"});
  EXPECT_EQ(one({{"phone", "333 CALL ME"}}), std::vector<std::string>{"phone"});
  EXPECT_EQ(one({{"name", 5}}), std::vector<std::string>{"name"});
  EXPECT_EQ(one({{"name", std::string(201, 'x')}}), std::vector<std::string>{"name"});
  EXPECT_EQ(one({{"name", "Ada\nLovelace"}}), std::vector<std::string>{"name"});
  // Characters, not bytes: 64 accented letters are a valid display name.
  std::string accented;
  for (int i = 0; i < 64; ++i) accented += "\xC3\xA8";
  EXPECT_EQ(one({{"display_name", accented}}), accepted);
  EXPECT_EQ(one({{"display_name", accented + "e"}}), std::vector<std::string>{"display_name"});
  EXPECT_EQ(one({{"attributes", "x"}}), std::vector<std::string>{"attributes"});
  EXPECT_EQ(one({{"attributes", {{std::string(65, 'k'), 1}}}}),
            std::vector<std::string>{"attributes." + std::string(65, 'k')});
  EXPECT_EQ(one({{"attributes", {{"long", std::string(1001, 'v')}}}}),
            std::vector<std::string>{"attributes.long"});
  EXPECT_EQ(one(json::array()), std::vector<std::string>{""});

  // At most 50 attributes once merged.
  db::Profile full;
  for (int i = 0; i < 50; ++i) full.attributes["a" + std::to_string(i)] = i;
  EXPECT_EQ(fields_of([&] {
              apply_profile_patch(full, parse_profile_patch({{"attributes", {{"x", 1}}}}, kNow));
            }),
            std::vector<std::string>{"attributes"});
  EXPECT_EQ(apply_profile_patch(
                full, parse_profile_patch({{"attributes", {{"a0", nullptr}, {"x", 1}}}}, kNow)),
            std::vector<std::string>{"attributes"});
}

TEST(ProfilePatch, EnrolmentSharesTheChecks) {
  auto m = parse_new_member(
      enrolling({{"profile", {{"display_name", "Ada"}, {"attributes", {{"k", nullptr}}}}}}), kNow);
  EXPECT_EQ(m.profile.display_name.value(), "Ada");
  EXPECT_EQ(m.profile.attributes, json::object());
  EXPECT_EQ(fields_of([] {
              parse_new_member(
                  enrolling({{"profile", {{"email", "ada@localhost"}, {"phone", "123"}}}}), kNow);
            }),
            (std::vector<std::string>{"profile.email", "profile.phone"}));
  EXPECT_EQ(fields_of([] {
              parse_new_member(enrolling({{"profile", "Ada"}}), kNow);
            }),
            std::vector<std::string>{"profile"});
}

TEST(ProfilePatch, AMemberChangesItsNamesAndGivesItsBirthdayOnce) {
  db::Profile p;
  p.email = "ada@example.com";
  auto refused = [&](const json& body) {
    std::vector<std::string> out;
    for (const auto& e : member_patch_refusals(p, parse_profile_patch(body, kNow)))
      out.push_back(e.field);
    return out;
  };
  EXPECT_TRUE(refused({{"name", "Ada"},
                       {"display_name", "Ada L."},
                       {"birthday", "1990-04-01"},
                       {"attributes", {{"newsletter", true}}}})
                  .empty());
  EXPECT_EQ(refused({{"email", "other@example.com"}, {"phone", "+39333123456"}}),
            (std::vector<std::string>{"email", "phone"}));
  EXPECT_TRUE(refused({{"email", "ADA@example.com"}}).empty()) << "the same address: no change";
  EXPECT_EQ(refused({{"email", nullptr}}), std::vector<std::string>{"email"});
  p.birthday = "1990-04-01";
  EXPECT_TRUE(refused({{"birthday", "1990-04-01"}}).empty());
  EXPECT_EQ(refused({{"birthday", "1991-04-01"}}), std::vector<std::string>{"birthday"});
  EXPECT_EQ(refused({{"birthday", nullptr}}), std::vector<std::string>{"birthday"});
}

TEST(MemberTokens, AnExpiredTokenIsStillReadable) {
  const std::string secret = "shared-secret";
  const auto token = sign_member_token({"mem_abc", kNow - minutes(1), "key_pos"}, secret);
  EXPECT_FALSE(verify_member_token(token, secret, kNow));
  const auto read = read_member_token(token, secret);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->expires_at, kNow - minutes(1));
  EXPECT_FALSE(read_member_token(token, "other-secret"));
}
