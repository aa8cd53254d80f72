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
  EXPECT_EQ(ok("card", "ab12"), ok("CARD", "AB-12"));
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
