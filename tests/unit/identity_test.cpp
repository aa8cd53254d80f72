#include "circolo/engine/identity.hpp"

#include <gtest/gtest.h>

using namespace circolo::engine;

namespace {

Identifier ok(std::string_view type, std::string_view value) {
  auto r = normalize_identifier(type, value);
  if (auto* e = std::get_if<IdentifierError>(&r))
    ADD_FAILURE() << type << "/" << value << ": " << e->message;
  return std::holds_alternative<Identifier>(r) ? std::get<Identifier>(r) : Identifier{};
}

std::string error_field(std::string_view type, std::string_view value) {
  auto r = normalize_identifier(type, value);
  return std::holds_alternative<IdentifierError>(r) ? std::get<IdentifierError>(r).field : "";
}

}  // namespace

TEST(Identity, SamePersonWhateverTheTouchpointTyped) {
  EXPECT_EQ(ok("email", "  Giulia.Rossi@Example.COM "),
            (Identifier{"email", "giulia.rossi@example.com"}));
  EXPECT_EQ(ok("phone", "+39 333-123.4567"), (Identifier{"phone", "+393331234567"}));
  EXPECT_EQ(ok("phone", "(02) 1234 5678"), (Identifier{"phone", "0212345678"}));
  EXPECT_EQ(ok("card", " 0400-1234 5678 "), (Identifier{"card", "040012345678"}));
  EXPECT_EQ(ok("card", "1234-5678"), ok("CARD", "1234 5678"));
  // Digits only, 4 to 32 of them: a letter O is not a zero.
  EXPECT_EQ(error_field("card", "4000-O000-1234"), "value");
  EXPECT_EQ(error_field("card", "ab12"), "value");
  EXPECT_EQ(error_field("card", "123"), "value");
  EXPECT_EQ(error_field("card", std::string(33, '7')), "value");
  EXPECT_EQ(ok("card", std::string(32, '7')).value, std::string(32, '7'));
  EXPECT_EQ(ok("app", " user-42 "), (Identifier{"app", "user-42"}));
  EXPECT_EQ(ok("Loyalty_Old", "X1"), (Identifier{"loyalty_old", "X1"}));
}

TEST(Identity, RefusesWhatCannotIdentify) {
  EXPECT_EQ(error_field("", "x"), "type");
  EXPECT_EQ(error_field("e mail", "x"), "type");
  EXPECT_EQ(error_field(std::string(33, 'a'), "x"), "type");
  EXPECT_EQ(error_field("card", "   "), "value");
  EXPECT_EQ(error_field("email", "no-at-sign"), "value");
  EXPECT_EQ(error_field("email", "a@b@c"), "value");
  EXPECT_EQ(error_field("email", "@example.com"), "value");
  EXPECT_EQ(error_field("phone", "12"), "value");
  EXPECT_EQ(error_field("phone", "333-CALL-ME"), "value");
  EXPECT_EQ(error_field("phone", "33+3123456"), "value");
  EXPECT_EQ(error_field("app", std::string(257, 'x')), "value");
  EXPECT_EQ(error_field("app", "tab\there"), "value");
}

// The findings: a card typed with full-width digits or a trailing zero-width space, or an email
// in another Unicode form, made a new member.
TEST(Identity, OneSpellingForWhatReadsTheSame) {
  EXPECT_EQ(ok("card", "\uFF14\uFF10\uFF10\uFF10 \uFF11\uFF12\uFF13\uFF14"),
            (Identifier{"card", "40001234"}))
      << "full-width digits";
  EXPECT_EQ(ok("card", "4000\u30001234"), (Identifier{"card", "40001234"}))
      << "an ideographic space is a space";
  // "é" composed (U+00E9) and decomposed (e + U+0301); upper and lower case.
  EXPECT_EQ(ok("email", "jos\u00E9@example.com"), ok("email", "JOSE\u0301@EXAMPLE.COM"));
  EXPECT_EQ(ok("email", "\uFF41\uFF4E\uFF4E\uFF41@example.com"),
            (Identifier{"email", "anna@example.com"}));
  EXPECT_EQ(ok("app", "\u2460"), (Identifier{"app", "1"})) << "compatibility forms";
}

TEST(Identity, RefusesInvisibleCharactersAndBrokenUtf8) {
  EXPECT_EQ(error_field("card", "40001234\u200B"), "value") << "a trailing zero-width space";
  EXPECT_EQ(error_field("email", "anna\u200D@example.com"), "value") << "a zero-width joiner";
  EXPECT_EQ(error_field("app", "user\u202E42"), "value") << "a right-to-left override";
  EXPECT_EQ(error_field("app", "soft\u00ADhyphen"), "value");
  EXPECT_EQ(error_field("app", "next\u0085line"), "value") << "a C1 control";
  EXPECT_EQ(error_field("email", "anna\u2028@example.com"), "value") << "a line separator";
  EXPECT_EQ(error_field("app", "para\u2029graph"), "value");
  EXPECT_EQ(error_field("card",
                        "4000\xFF"
                        "1234"),
            "value")
      << "a stray byte";
  EXPECT_EQ(error_field("card", "\xC0\xB1"), "value") << "an overlong '1'";
  EXPECT_EQ(error_field("card", "\xED\xA0\x80"), "value") << "a surrogate";
  const auto r = normalize_identifier("card", "4000\xFF");
  ASSERT_TRUE(std::holds_alternative<IdentifierError>(r));
  EXPECT_EQ(std::get<IdentifierError>(r).message, "is not valid UTF-8");
}

namespace identity = circolo::engine::identity;
using Kind = identity::Resolution::Kind;

namespace {

identity::Named owned(const std::string& type, const std::string& value, const char* owner) {
  identity::Named n{{type, value}, std::nullopt};
  if (owner) n.owner = owner;
  return n;
}

}  // namespace

TEST(IdentityResolution, OneOwnerIsTheMemberAndNewIdentifiersAreLinkedOnlyWhenAsked) {
  const std::vector<identity::Named> named{owned("email", "a@x.it", "mem_a"),
                                           owned("card", "4000", nullptr)};
  auto without = identity::resolve(named, std::nullopt, /*link=*/false, /*enrol=*/true);
  EXPECT_EQ(without.kind, Kind::member);
  EXPECT_EQ(without.member_id, "mem_a");
  EXPECT_TRUE(without.to_link.empty()) << "enrol does not link to a member that exists";
  auto with = identity::resolve(named, std::nullopt, /*link=*/true, /*enrol=*/false);
  ASSERT_EQ(with.to_link.size(), 1u);
  EXPECT_EQ(with.to_link[0].type, "card");
}

TEST(IdentityResolution, TwoOwnersAreAConflictNamingBoth) {
  auto r = identity::resolve({owned("card", "1", "mem_b"), owned("email", "a@x.it", "mem_a"),
                              owned("phone", "+39", "mem_b")},
                             std::nullopt, true, true);
  EXPECT_EQ(r.kind, Kind::conflict);
  EXPECT_EQ(r.conflicting, (std::vector<std::string>{"mem_a", "mem_b"}));
  EXPECT_TRUE(r.to_link.empty());
}

TEST(IdentityResolution, NobodyKnownEnrolsWithEveryIdentifierOrIsUnknown) {
  const std::vector<identity::Named> named{
      owned("card", "1", nullptr), owned("email", "a@x.it", nullptr), owned("card", "1", nullptr)};
  auto enrol = identity::resolve(named, std::nullopt, false, true);
  EXPECT_EQ(enrol.kind, Kind::enrol);
  EXPECT_EQ(enrol.to_link.size(), 2u) << "a repeated identifier once";
  EXPECT_EQ(identity::resolve(named, std::nullopt, true, false).kind, Kind::unknown);
}

TEST(IdentityResolution, ALinkCodeNamesTheMemberAndLinksNewIdentifiers) {
  auto r = identity::resolve({owned("card", "9", nullptr)}, std::string("mem_a"), false, false);
  EXPECT_EQ(r.kind, Kind::member);
  EXPECT_EQ(r.member_id, "mem_a");
  ASSERT_EQ(r.to_link.size(), 1u);
  // The code's member and another identifier's owner disagree: a conflict.
  auto c = identity::resolve({owned("card", "9", "mem_b")}, std::string("mem_a"), false, false);
  EXPECT_EQ(c.kind, Kind::conflict);
  // The card is the code's member's already: fine.
  EXPECT_EQ(
      identity::resolve({owned("card", "9", "mem_a")}, std::string("mem_a"), false, false).kind,
      Kind::member);
}

TEST(LinkCodes, UnknownUsedAndExpiredAreRefused) {
  using namespace std::chrono;
  const auto now = sys_time<microseconds>(seconds(1'000'000));
  EXPECT_EQ(identity::check_link_code(std::nullopt, now), identity::LinkCodeRefusal::unknown);
  identity::LinkCode code{"mem_a", now + minutes(10), false};
  EXPECT_EQ(identity::check_link_code(code, now), identity::LinkCodeRefusal::none);
  EXPECT_EQ(identity::check_link_code(code, now + minutes(10)), identity::LinkCodeRefusal::expired);
  code.used = true;
  EXPECT_EQ(identity::check_link_code(code, now), identity::LinkCodeRefusal::used);
}
