// Private to the rules library: the run-time values of the language (the Value model, decimal
// arithmetic, comparisons, text) and the context an evaluation reads.
#pragma once

#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "circolo/rules/evaluate.hpp"

namespace circolo::rules::detail {

using engine::TimePoint;
using i128 = __int128;

struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- values ----
struct Value {
  enum class Kind { missing, boolean, integer, decimal, string, time, date, weekday, list, item };
  Kind kind = Kind::missing;
  bool b = false;
  std::int64_t i = 0;  // integer; time: micros; date: days since epoch; weekday: 0 = mon
  Decimal d;
  // Strings are borrowed: from the program's literals or the event and member being evaluated,
  // all of which outlive an evaluation; no evaluation allocates a string.
  std::string_view s;
  std::shared_ptr<const std::vector<Value>> elements;
  const Item* item = nullptr;

  const std::vector<Value>& list() const {
    static const std::vector<Value> kEmpty;
    return elements ? *elements : kEmpty;
  }

  static Value boolean(bool v) {
    Value x;
    x.kind = Kind::boolean;
    x.b = v;
    return x;
  }
  static Value integer(std::int64_t v) {
    Value x;
    x.kind = Kind::integer;
    x.i = v;
    return x;
  }
  static Value decimal(Decimal v) {
    Value x;
    x.kind = Kind::decimal;
    x.d = v;
    return x;
  }
  static Value string(std::string_view v) {
    Value x;
    x.kind = Kind::string;
    x.s = v;
    return x;
  }
  static Value list_of(std::vector<Value> v) {
    Value x;
    x.kind = Kind::list;
    x.elements = std::make_shared<const std::vector<Value>>(std::move(v));
    return x;
  }
  static Value time(TimePoint t) {
    Value x;
    x.kind = Kind::time;
    x.i = t.time_since_epoch().count();
    return x;
  }
  static Value date(std::int64_t days) {
    Value x;
    x.kind = Kind::date;
    x.i = days;
    return x;
  }
  static Value weekday(int w) {
    Value x;
    x.kind = Kind::weekday;
    x.i = w;
    return x;
  }
  static Value of(const Dyn& d) {
    if (std::holds_alternative<bool>(d)) return boolean(std::get<bool>(d));
    if (std::holds_alternative<std::int64_t>(d)) return integer(std::get<std::int64_t>(d));
    if (std::holds_alternative<Decimal>(d)) return decimal(std::get<Decimal>(d));
    if (std::holds_alternative<std::string>(d)) return string(std::get<std::string>(d));
    return Value{};
  }
  bool number() const { return kind == Kind::integer || kind == Kind::decimal; }
};

i128 pow10(int n);
Decimal as_decimal(const Value& v);
int compare_numbers(const Value& a, const Value& b);
// `a op b` for + - * / %. Throws RuntimeError.
Value arithmetic(const std::string& op, const Value& a, const Value& b);
std::int64_t to_integer(i128 v);
std::int64_t floor_of(const Value& v, int mode);  // mode: -1 floor, 1 ceil, 0 round
// Equality with the language's rules: mismatched kinds and missing values compare false.
std::optional<int> order(const Value& a, const Value& b);
// Only a boolean true is true (a dyn value of another kind is not).
inline bool truthy(const Value& v) {
  return v.kind == Value::Kind::boolean && v.b;
}

// ---- evaluation context ----
struct Context {
  const Event* event = nullptr;
  const MemberSnapshot* member = nullptr;
  const Item* item = nullptr;      // the element inside any/all/sum/where over items
  const Value* element = nullptr;  // the element inside list ops over other lists
  const date::time_zone* zone = nullptr;
  // Per-evaluation caches shared by all rules (inner scopes copy the pointers).
  mutable std::shared_ptr<const std::vector<Value>> items;
  // Results of the conditions shared by many rules (see ExprCompiler::predicate): -1 unknown.
  std::vector<signed char>* memo = nullptr;
  mutable std::int64_t local_for = INT64_MIN, local_micros = 0;
};

using Fn = std::function<Value(const Context&)>;
using Pred = std::function<bool(const Context&)>;

// The local time (program zone) of an instant in microseconds, and its local day number.
date::local_time<std::chrono::microseconds> local(const Context& c, std::int64_t micros);
std::int64_t local_days(const Context& c, std::int64_t micros);
std::string to_text(const Value& v, int currency_digits);
Value list_of_strings(const std::vector<std::string>& v);

}  // namespace circolo::rules::detail
