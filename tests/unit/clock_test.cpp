#include "circolo/engine/clock.hpp"
#include "circolo/engine/digest.hpp"

#include <gtest/gtest.h>

using namespace circolo::engine;
using namespace std::chrono;

TEST(Clock, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(TimePoint{sys_days{2026y / 12 / 5}});
  const auto start = clock.now();
  EXPECT_EQ(clock.now(), start);
  clock.advance(minutes(90));
  EXPECT_EQ(clock.now() - start, minutes(90));
  clock.set(start);
  EXPECT_EQ(clock.now(), start);
}

TEST(Clock, FormatsRfc3339InUtc) {
  EXPECT_EQ(format_rfc3339(TimePoint{sys_days{2026y / 12 / 5} + hours(9) + minutes(15)}),
            "2026-12-05T09:15:00Z");
  EXPECT_EQ(format_rfc3339(TimePoint{sys_days{1999y / 1 / 31} + microseconds(123456)}),
            "1999-01-31T00:00:00.123456Z");
  EXPECT_EQ(format_rfc3339(TimePoint{}), "1970-01-01T00:00:00Z");
}

TEST(Digest, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
}

TEST(Clock, ParsesRfc3339) {
  const TimePoint noon_utc{sys_days{2026y / 12 / 5} + hours(9) + minutes(15)};
  EXPECT_EQ(parse_rfc3339("2026-12-05T10:15:00+01:00"), noon_utc);
  EXPECT_EQ(parse_rfc3339("2026-12-05T09:15:00Z"), noon_utc);
  EXPECT_EQ(parse_rfc3339("2026-12-05t04:15:00-05:00"), noon_utc);
  EXPECT_EQ(parse_rfc3339("2026-12-05T09:15:00.5Z"), noon_utc + milliseconds(500));
  EXPECT_EQ(parse_rfc3339("2026-12-05T09:15:00.1234567Z"), noon_utc + microseconds(123456));
  EXPECT_EQ(parse_rfc3339(format_rfc3339(noon_utc + microseconds(7))), noon_utc + microseconds(7));
  for (const char* bad :
       {"", "2026-12-05", "2026-12-05T09:15:00", "2026-02-30T00:00:00Z", "2026-12-05T24:00:00Z",
        "2026-12-05 09:15:00Z", "2026-12-05T09:15:00.Z", "2026-12-05T09:15:00+0100",
        "2026-12-05T09:15:00Zjunk", "2026-13-01T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}
