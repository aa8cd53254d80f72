#include "circolo/engine/money.hpp"

#include <array>
#include <limits>

namespace circolo::engine {

MoneyParse parse_money(std::string_view text, int currency_digits) {
  MoneyParse out;
  if (text.empty()) return out;
  bool negative = false;
  std::size_t i = 0;
  if (text[0] == '-' || text[0] == '+') {
    negative = text[0] == '-';
    ++i;
  }
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t value = 0;
  int integer_digits = 0;
  int fraction_digits = 0;
  bool seen_dot = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (seen_dot || integer_digits == 0) {
        out.error = MoneyError::not_a_number;
        return out;
      }
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') {
      out.error = MoneyError::not_a_number;
      return out;
    }
    if (seen_dot) {
      ++fraction_digits;
      // Trailing zeros beyond the currency's digits are harmless ("1.500" EUR), others are not.
      if (fraction_digits > currency_digits) {
        if (c != '0') {
          out.error = MoneyError::too_many_digits;
          return out;
        }
        continue;
      }
    } else {
      ++integer_digits;
    }
    const int d = c - '0';
    if (value > (kMax - d) / 10) {
      out.error = MoneyError::out_of_range;
      return out;
    }
    value = value * 10 + d;
  }
  if (integer_digits == 0 || (seen_dot && fraction_digits == 0)) {
    out.error = MoneyError::not_a_number;
    return out;
  }
  for (int k = std::min(fraction_digits, currency_digits); k < currency_digits; ++k) {
    if (value > kMax / 10) {
      out.error = MoneyError::out_of_range;
      return out;
    }
    value *= 10;
  }
  out.value = Money{negative ? -value : value, currency_digits};
  return out;
}

std::string format_money(const Money& m) {
  // Work in unsigned so that INT64_MIN renders too.
  const bool negative = m.minor < 0;
  std::uint64_t magnitude = negative ? std::uint64_t{0} - static_cast<std::uint64_t>(m.minor)
                                     : static_cast<std::uint64_t>(m.minor);
  std::string digits = std::to_string(magnitude);
  if (m.digits > 0) {
    if (digits.size() <= static_cast<std::size_t>(m.digits)) {
      digits.insert(0, static_cast<std::size_t>(m.digits) + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - static_cast<std::size_t>(m.digits), 1, '.');
  }
  return negative ? "-" + digits : digits;
}

std::optional<int> currency_digits(std::string_view iso) {
  struct Entry {
    std::string_view code;
    int digits;
  };
  // ISO 4217 exceptions to the usual two digits, plus the common two-digit currencies.
  static constexpr std::array<Entry, 32> kTable{{
      {"EUR", 2}, {"USD", 2}, {"GBP", 2}, {"CHF", 2}, {"SEK", 2}, {"NOK", 2}, {"DKK", 2},
      {"PLN", 2}, {"CZK", 2}, {"HUF", 2}, {"RON", 2}, {"CAD", 2}, {"AUD", 2}, {"NZD", 2},
      {"CNY", 2}, {"INR", 2}, {"BRL", 2}, {"MXN", 2}, {"ZAR", 2}, {"SGD", 2}, {"HKD", 2},
      {"TRY", 2}, {"JPY", 0}, {"KRW", 0}, {"ISK", 0}, {"CLP", 0}, {"VND", 0}, {"BHD", 3},
      {"KWD", 3}, {"OMR", 3}, {"JOD", 3}, {"TND", 3},
  }};
  for (const auto& e : kTable) {
    if (e.code == iso) return e.digits;
  }
  return std::nullopt;
}

const char* describe(MoneyError e) {
  switch (e) {
    case MoneyError::empty:
      return "is empty";
    case MoneyError::not_a_number:
      return "is not a decimal number";
    case MoneyError::too_many_digits:
      return "has more fractional digits than the currency allows";
    case MoneyError::out_of_range:
      return "is out of range";
  }
  return "is invalid";
}

}  // namespace circolo::engine
