#include "circolo/engine/money.hpp"

#include <gtest/gtest.h>

using namespace circolo::engine;

TEST(Money, ParsesExactlyWithoutFloatingPoint) {
  EXPECT_EQ(parse_money("84.50", 2).value->minor, 8450);
  EXPECT_EQ(parse_money("84.5", 2).value->minor, 8450);
  EXPECT_EQ(parse_money("84", 2).value->minor, 8400);
  EXPECT_EQ(parse_money("0.07", 2).value->minor, 7);
  EXPECT_EQ(parse_money("-3.10", 2).value->minor, -310);
  EXPECT_EQ(parse_money("+1", 0).value->minor, 1);
  // 0.1 + 0.2 style values stay exact.
  EXPECT_EQ(parse_money("0.30", 2).value->minor, 30);
  EXPECT_EQ(parse_money("1.500", 2).value->minor, 150);  // trailing zeros are harmless
  EXPECT_EQ(parse_money("12.345", 3).value->minor, 12345);
}

TEST(Money, RefusesWhatIsNotAnAmount) {
  EXPECT_EQ(parse_money("", 2).error, MoneyError::empty);
  for (const char* bad :
       {"1e3", "1,50", " 1", "1 ", ".5", "5.", "1.2.3", "--1", "abc", "-", "0x10"}) {
    auto r = parse_money(bad, 2);
    EXPECT_FALSE(r.value) << bad;
    EXPECT_EQ(r.error, MoneyError::not_a_number) << bad;
  }
  EXPECT_EQ(parse_money("1.005", 2).error, MoneyError::too_many_digits);
  EXPECT_EQ(parse_money("1.5", 0).error, MoneyError::too_many_digits);
  EXPECT_EQ(parse_money("92233720368547758.08", 2).error, MoneyError::out_of_range);
  EXPECT_EQ(parse_money("99999999999999999999", 2).error, MoneyError::out_of_range);
  EXPECT_EQ(parse_money("92233720368547758.07", 2).value->minor, INT64_MAX);
}

TEST(Money, FormatsWithTheCurrencyDigits) {
  EXPECT_EQ(format_money({8450, 2}), "84.50");
  EXPECT_EQ(format_money({7, 2}), "0.07");
  EXPECT_EQ(format_money({-310, 2}), "-3.10");
  EXPECT_EQ(format_money({0, 2}), "0.00");
  EXPECT_EQ(format_money({1234, 0}), "1234");
  EXPECT_EQ(format_money({5, 3}), "0.005");
  EXPECT_EQ(format_money({INT64_MIN, 2}), "-92233720368547758.08");
}

TEST(Money, RoundTrips) {
  for (std::int64_t v : {0LL, 1LL, 99LL, 100LL, 123456789LL, -42LL}) {
    EXPECT_EQ(parse_money(format_money({v, 2}), 2).value->minor, v);
  }
}

TEST(Money, KnowsCurrencyDigits) {
  EXPECT_EQ(currency_digits("EUR"), 2);
  EXPECT_EQ(currency_digits("JPY"), 0);
  EXPECT_EQ(currency_digits("KWD"), 3);
  EXPECT_FALSE(currency_digits("XXX"));
  EXPECT_FALSE(currency_digits("eur"));
}
