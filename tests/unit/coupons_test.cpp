#include "circolo/engine/coupons.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

using namespace circolo::engine::coupons;
using circolo::engine::TimePoint;
using namespace std::chrono_literals;

namespace {

RandomBytes seeded(unsigned seed) {
  auto engine = std::make_shared<std::mt19937>(seed);
  return [engine](unsigned char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>((*engine)() & 0xff);
  };
}

const TimePoint kNow = TimePoint{} + std::chrono::hours(24 * 20000);

CodeState usable() {
  CodeState c;
  c.owner = "mem_a";
  c.expires_at = kNow + 24h;
  c.terms.amount_minor = 500;
  return c;
}

}  // namespace

TEST(CouponCodes, ShapeIsPrefixRandomSymbolsAndACheckSymbol) {
  const auto random = seeded(1);
  const auto code = make_code("SHOES10", random);
  ASSERT_EQ(code.size(), std::string("SHOES10-").size() + kRandomSymbols + 1);
  EXPECT_EQ(code.substr(0, 8), "SHOES10-");
  EXPECT_EQ(check_shape(code), CodeShape::ok);
  const auto bare = make_code("", random);
  EXPECT_EQ(bare.size(), static_cast<std::size_t>(kRandomSymbols + 1));
  EXPECT_EQ(check_shape(bare), CodeShape::ok);
  for (char c : bare) EXPECT_NE(kAlphabet.find(c), std::string_view::npos) << c;
}

TEST(CouponCodes, EverySingleTypoAndNeighbourSwapIsCaught) {
  const auto random = seeded(7);
  for (int n = 0; n < 300; ++n) {
    const auto code = make_code("", random);
    for (std::size_t i = 0; i < code.size(); ++i) {
      for (char c : kAlphabet) {
        if (c == code[i]) continue;
        auto typo = code;
        typo[i] = c;
        EXPECT_EQ(check_shape(typo), CodeShape::check_failed) << code << " -> " << typo;
      }
      if (i + 1 < code.size() && code[i] != code[i + 1]) {
        auto swapped = code;
        std::swap(swapped[i], swapped[i + 1]);
        EXPECT_EQ(check_shape(swapped), CodeShape::check_failed) << code << " -> " << swapped;
      }
    }
  }
}

TEST(CouponCodes, SymbolsAreUniformAndCodesDoNotRepeat) {
  const auto random = seeded(3);
  std::map<char, int> counts;
  std::set<std::string> seen;
  const int n = 30000;
  for (int i = 0; i < n; ++i) {
    const auto code = make_code("", random);
    EXPECT_TRUE(seen.insert(code).second);
    for (int k = 0; k < kRandomSymbols; ++k) ++counts[code[static_cast<std::size_t>(k)]];
  }
  ASSERT_EQ(counts.size(), kAlphabet.size());
  const double expected = double(n) * kRandomSymbols / kAlphabet.size();
  for (const auto& [symbol, count] : counts)
    EXPECT_NEAR(count, expected, expected * 0.05) << symbol;  // no modulo bias
}

TEST(CouponCodes, InputIsCaseInsensitiveAndBlanksAreIgnored) {
  const auto code = make_code("WELCOME5", seeded(5));
  std::string typed;
  for (char c : code) typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  typed = " " + typed.substr(0, 6) + " " + typed.substr(6) + " ";
  EXPECT_EQ(normalise_code(typed), code);
  EXPECT_EQ(check_shape(normalise_code(typed)), CodeShape::ok);
  EXPECT_EQ(check_shape("WELCOME5-ABC"), CodeShape::malformed);
  EXPECT_EQ(check_shape("WEL COME-" + code.substr(9)), CodeShape::malformed);
  EXPECT_EQ(check_shape("-" + code.substr(9)), CodeShape::malformed);
  EXPECT_EQ(check_shape(""), CodeShape::malformed);
  EXPECT_EQ(check_shape("O0000000000"), CodeShape::malformed);  // look-alikes are not symbols
}

TEST(CouponCodes, Prefixes) {
  EXPECT_EQ(normalise_prefix("shoes-10"), "SHOES-10");
  EXPECT_FALSE(normalise_prefix(""));
  EXPECT_FALSE(normalise_prefix("-A"));
  EXPECT_FALSE(normalise_prefix("A B"));
  EXPECT_FALSE(normalise_prefix("ÄB"));
  EXPECT_FALSE(normalise_prefix(std::string(kMaxPrefix + 1, 'A')));
}

TEST(CouponDiscount, AmountsPercentagesCapsAndTheTotal) {
  Terms amount;
  amount.amount_minor = 500;
  EXPECT_EQ(discount(amount, 8450), 500);
  EXPECT_EQ(discount(amount, 300), 300);  // never more than the basket
  EXPECT_EQ(discount(amount, 0), 0);
  Terms percent;
  percent.percent_e4 = 100000;  // 10%
  EXPECT_EQ(discount(percent, 8450), 845);
  EXPECT_EQ(discount(percent, 8459), 845);  // rounded down to the cent
  percent.max_minor = 2000;
  EXPECT_EQ(discount(percent, 50000), 2000);
  Terms odd;
  odd.percent_e4 = 125000;  // 12.5%
  EXPECT_EQ(discount(odd, 999), 124);
  Terms all;
  all.percent_e4 = 1000000;  // 100%
  EXPECT_EQ(discount(all, 123456789012345), 123456789012345);
}

TEST(CouponCheck, EachRefusal) {
  auto c = usable();
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow), Refusal::none);
  c.expires_at = kNow;
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow), Refusal::coupon_expired);
  c = usable();
  EXPECT_EQ(check(c, "mem_b", 1000, "store", kNow), Refusal::coupon_not_owned);
  c.owner.reset();  // unassigned: anyone, until bound
  EXPECT_EQ(check(c, "mem_b", 1000, "store", kNow), Refusal::none);
  c.used = 1;
  EXPECT_EQ(check(c, "mem_b", 1000, "store", kNow), Refusal::coupon_already_redeemed);
  c = usable();
  c.terms.channels = {"app", "web"};
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow), Refusal::channel_not_allowed);
  EXPECT_EQ(check(c, "mem_a", 1000, "app", kNow), Refusal::none);
  c.terms.min_total_minor = 2500;
  EXPECT_EQ(check(c, "mem_a", 2499, "app", kNow), Refusal::min_total_not_met);
  EXPECT_EQ(check(c, "mem_a", 2500, "app", kNow), Refusal::none);
}

TEST(CouponCheck, HoldsTakeUses) {
  auto c = usable();
  c.uses_allowed = 2;
  c.used = 1;
  c.held_by_others = 1;
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow), Refusal::coupon_already_redeemed);
  c.held_by_others = 0;
  c.held_by_member = true;  // its own hold is the use it takes
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow), Refusal::none);
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow, /*reserving=*/true),
            Refusal::coupon_already_redeemed);
  c.held_by_member = false;
  EXPECT_EQ(check(c, "mem_a", 1000, "store", kNow, true), Refusal::none);
}

TEST(CouponCodes, NumbersIdentifyTheRandomPart) {
  const auto random = seeded(11);
  std::int64_t made = -1;
  const auto a = make_code("A", random, &made), b = make_code("A", random);
  EXPECT_EQ(code_number(a), made);
  ASSERT_TRUE(code_number(a) && code_number(b));
  EXPECT_NE(*code_number(a), *code_number(b));
  EXPECT_EQ(code_number(a), code_number("OTHER-" + a.substr(2)));  // the prefix is not in it
  EXPECT_LT(*code_number(a), std::int64_t{1} << 49);
  EXPECT_EQ(code_number("22222222222"), 0);
  EXPECT_FALSE(code_number("22222222223"));  // wrong check symbol
}

TEST(CouponCheck, AnUnassignedCodeHeldByAnotherMemberIsTaken) {
  auto c = usable();
  c.owner.reset();
  c.uses_allowed = 5;
  c.held_by_others = 1;  // four uses left, but the code goes to the holder
  EXPECT_EQ(check(c, "mem_b", 1000, "store", kNow), Refusal::coupon_already_redeemed);
  c.owner = "mem_b";  // bound already: the other uses are its own
  c.held_by_others = 0;
  EXPECT_EQ(check(c, "mem_b", 1000, "store", kNow), Refusal::none);
}

TEST(CouponUse, OneDecisionFromTheTypedCodeToTheDiscount) {
  const auto code = make_code("TEN", seeded(7));
  Use use;
  use.member = "mem_a";
  use.total_minor = 2000;
  use.channel = "web";
  use.at = kNow;

  auto malformed = decide_use("TEN-ABC", nullptr, 2, use);
  EXPECT_EQ(malformed.refusal, "unknown_coupon");
  EXPECT_EQ(malformed.detail, "no such code: codes look like PREFIX-XXXXXXXXXXX");
  auto typo = code;
  typo.back() = typo.back() == '2' ? '3' : '2';
  EXPECT_EQ(decide_use(typo, nullptr, 2, use).detail,
            "no such code: its check character does not match (mistyped?)");
  EXPECT_EQ(decide_use(code, nullptr, 2, use).detail, "no such code");

  auto state = usable();
  state.uses_allowed = 3;
  state.used = 1;
  state.held_by_others = 1;
  auto ok = decide_use(code, &state, 2, use);
  EXPECT_TRUE(ok.ok()) << ok.detail;
  EXPECT_EQ(ok.discount_minor, 500);
  EXPECT_EQ(ok.uses_left, 1);  // three, one used, one held by someone else

  use.discount_limit = 120;  // what an earlier code of the basket left
  EXPECT_EQ(decide_use(code, &state, 2, use).discount_minor, 120);

  state.terms.min_total_minor = 2500;
  auto short_basket = decide_use(code, &state, 2, use);
  EXPECT_EQ(short_basket.refusal, "min_total_not_met");
  EXPECT_NE(short_basket.detail.find("25.00"), std::string::npos) << short_basket.detail;
  EXPECT_EQ(short_basket.discount_minor, 0);
}
