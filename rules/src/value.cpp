// The run-time values of the language: decimal arithmetic, comparisons, local time and text.
#include "value.hpp"

#include <algorithm>
#include <cstdio>

#include "circolo/rules/format.hpp"
#include "program_impl.hpp"

namespace circolo::rules::detail {

namespace {

constexpr int kMaxScale = 12;

// Rounds `m / 10^drop` half away from zero.
i128 drop_digits(i128 m, int drop) {
  if (drop <= 0) return m;
  const i128 p = pow10(drop);
  i128 q = m / p, r = m % p;
  if (r < 0) r = -r;
  if (r * 2 >= p) q += m < 0 ? -1 : 1;
  return q;
}

Decimal make_decimal(i128 m, int scale) {
  if (scale > kMaxScale) {
    m = drop_digits(m, scale - kMaxScale);
    scale = kMaxScale;
  }
  // Normalise trailing zeros so that equal values look equal.
  while (scale > 0 && m % 10 == 0) {
    m /= 10;
    --scale;
  }
  if (m > INT64_MAX || m < INT64_MIN) throw RuntimeError("a decimal overflowed");
  return Decimal{static_cast<std::int64_t>(m), scale};
}

}  // namespace

i128 pow10(int n) {
  i128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

Decimal as_decimal(const Value& v) {
  return v.kind == Value::Kind::integer ? Decimal{v.i, 0} : v.d;
}

int compare_numbers(const Value& a, const Value& b) {
  const auto x = as_decimal(a), y = as_decimal(b);
  const int s = std::max(x.scale, y.scale);
  const i128 l = i128(x.mantissa) * pow10(s - x.scale), r = i128(y.mantissa) * pow10(s - y.scale);
  return l < r ? -1 : l > r ? 1 : 0;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.kind == Value::Kind::missing || b.kind == Value::Kind::missing)
    throw RuntimeError("a value is missing");
  if (!a.number() || !b.number())
    throw RuntimeError("'" + op + "' on a value that is not a number");
  if (a.kind == Value::Kind::integer && b.kind == Value::Kind::integer && op != "/") {
    std::int64_t out = 0;
    bool overflow = false;
    if (op == "+")
      overflow = __builtin_add_overflow(a.i, b.i, &out);
    else if (op == "-")
      overflow = __builtin_sub_overflow(a.i, b.i, &out);
    else if (op == "*")
      overflow = __builtin_mul_overflow(a.i, b.i, &out);
    else {
      if (b.i == 0) throw RuntimeError("division by zero");
      if (a.i == INT64_MIN && b.i == -1)
        overflow = true;
      else
        out = a.i % b.i;
    }
    if (overflow) throw RuntimeError("integer overflow in '" + op + "'");
    return Value::integer(out);
  }
  const auto x = as_decimal(a), y = as_decimal(b);
  if (op == "+" || op == "-") {
    const int s = std::max(x.scale, y.scale);
    const i128 l = i128(x.mantissa) * pow10(s - x.scale), r = i128(y.mantissa) * pow10(s - y.scale);
    return Value::decimal(make_decimal(op == "+" ? l + r : l - r, s));
  }
  if (op == "*")
    return Value::decimal(make_decimal(i128(x.mantissa) * i128(y.mantissa), x.scale + y.scale));
  if (op == "/") {
    if (y.mantissa == 0) throw RuntimeError("division by zero");
    // x / y with kMaxScale fractional digits, rounded half away from zero.
    const int shift = kMaxScale + y.scale - x.scale + 1;
    i128 num = i128(x.mantissa);
    if (shift >= 0) {
      if (shift > 30) throw RuntimeError("a decimal overflowed");
      num *= pow10(shift);
    }
    const i128 q = num / i128(y.mantissa);
    return Value::decimal(
        make_decimal(drop_digits(q, 1), shift >= 0 ? kMaxScale : kMaxScale - shift - 1));
  }
  throw RuntimeError("'%' needs whole numbers");
}

std::int64_t to_integer(i128 v) {
  if (v > INT64_MAX || v < INT64_MIN) throw RuntimeError("integer overflow");
  return static_cast<std::int64_t>(v);
}

std::int64_t floor_of(const Value& v, int mode) {  // mode: -1 floor, 1 ceil, 0 round
  if (v.kind == Value::Kind::integer) return v.i;
  if (v.kind != Value::Kind::decimal)
    throw RuntimeError("floor/ceil/round of a value that is not a number");
  const i128 p = pow10(v.d.scale);
  const i128 m = v.d.mantissa;
  if (mode == 0) return to_integer(drop_digits(m, v.d.scale));
  i128 q = m / p;
  const i128 r = m % p;
  if (mode < 0 && r < 0) q -= 1;
  if (mode > 0 && r > 0) q += 1;
  return to_integer(q);
}

std::optional<int> order(const Value& a, const Value& b) {
  if (a.kind == Value::Kind::missing || b.kind == Value::Kind::missing) return std::nullopt;
  if (a.number() && b.number()) return compare_numbers(a, b);
  if (a.kind != b.kind) return std::nullopt;
  switch (a.kind) {
    case Value::Kind::boolean:
      return int(a.b) - int(b.b);
    case Value::Kind::string:
      return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
    case Value::Kind::time:
    case Value::Kind::date:
    case Value::Kind::weekday:
      return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    default:
      return std::nullopt;
  }
}

date::local_time<std::chrono::microseconds> local(const Context& c, std::int64_t micros) {
  // Every weekday(event.time) of every rule asks about the same instant: convert it once.
  if (c.local_for != micros) {
    c.local_micros = detail::local_time(c.zone, TimePoint(std::chrono::microseconds(micros)))
                         .time_since_epoch()
                         .count();
    c.local_for = micros;
  }
  return date::local_time<std::chrono::microseconds>(std::chrono::microseconds(c.local_micros));
}

std::int64_t local_days(const Context& c, std::int64_t micros) {
  return date::floor<date::days>(local(c, micros)).time_since_epoch().count();
}

std::string to_text(const Value& v, int currency_digits) {
  switch (v.kind) {
    case Value::Kind::missing:
      return "";
    case Value::Kind::boolean:
      return v.b ? "true" : "false";
    case Value::Kind::integer:
      return std::to_string(v.i);
    case Value::Kind::decimal: {
      // Money-like values show the currency's digits; others as computed.
      Decimal d = v.d;
      if (d.scale < currency_digits) {
        d.mantissa *= static_cast<std::int64_t>(pow10(currency_digits - d.scale));
        d.scale = currency_digits;
      }
      return format_decimal(d);
    }
    case Value::Kind::string:
      return std::string(v.s);
    case Value::Kind::time:
      return engine::format_rfc3339(TimePoint{std::chrono::microseconds{v.i}});
    case Value::Kind::date: {
      const date::year_month_day ymd{date::sys_days{date::days{v.i}}};
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                    unsigned(ymd.day()));
      return buf;
    }
    case Value::Kind::weekday: {
      static const char* kNames[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      return kNames[v.i % 7];
    }
    case Value::Kind::list:
      return "[" + std::to_string(v.list().size()) + " items]";
    case Value::Kind::item:
      return v.item ? v.item->sku : "";
  }
  return "";
}

Value list_of_strings(const std::vector<std::string>& v) {
  std::vector<Value> out;
  out.reserve(v.size());
  for (const auto& s : v) out.push_back(Value::string(s));
  return Value::list_of(std::move(out));
}

}  // namespace circolo::rules::detail
