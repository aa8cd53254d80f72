#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace circolo::engine {

// An exact amount in minor units of a currency (cents for EUR). Never a double.
struct Money {
  std::int64_t minor = 0;
  int digits = 2;  // fractional digits of the currency

  friend bool operator==(const Money&, const Money&) = default;
};

enum class MoneyError {
  empty,
  not_a_number,     // stray characters, exponent, several dots...
  too_many_digits,  // more fractional digits than the currency allows
  out_of_range,     // does not fit in 64-bit minor units
};

struct MoneyParse {
  std::optional<Money> value;
  MoneyError error = MoneyError::empty;
};

// Parses "84.5", "84.50", "-3", "0.07" exactly (no binary floating point). A leading '+' or '-'
// is accepted; exponents, thousands separators and blanks are not.
MoneyParse parse_money(std::string_view text, int currency_digits);

// Renders minor units as a decimal string with exactly the currency's digits: 8450 -> "84.50".
std::string format_money(const Money& m);

// Fractional digits of an ISO 4217 currency (JPY 0, KWD 3, most 2); nullopt if unknown.
std::optional<int> currency_digits(std::string_view iso_code);

const char* describe(MoneyError e);

}  // namespace circolo::engine
